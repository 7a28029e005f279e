"""Mutable relay state as JSON documents under ``state/`` with ETag concurrency.

Every document of the relay lives here so that its names and shapes are documented in one place:

- ``state/teams/inbox.json`` — the bound inbox channel: ``channel_id``, ``team_id``,
  ``tenant_id``, ``service_url``, ``bot_id``, ``bot_name``, ``bound_by``, ``bound_at``.
- ``state/relay/threads/<conversation>.json`` — the contact's thread: ``conversation``,
  ``wa_id``, ``thread_id`` (``<channel id>;messageid=<root id>``), ``root_activity_id``,
  ``service_url``, ``channel_id``, ``created_at``; before the thread exists, possibly a
  ``claim`` (with ``claimed_until``) of the worker starting it. No ``thread_id``: no thread yet.
- ``state/relay/teams-threads/<thread id>.json`` — the reverse: thread id -> ``conversation``.
- ``state/relay/pending/<conversation>.json`` — the durable queue of records still to relay
  into Teams for one contact (``items``, in order) and the worker ``lease`` holding it.
- ``state/relay/sent/<wamid>.json`` — where an outbound message's status card is
  (``thread_id``, ``activity_id``, ``record_id``, ``conversation``, ``text``).
- ``state/relay/media-key.json`` — the random key that signs media download links.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from bridge.errors import ConcurrentUpdate
from bridge.ids import state_blob_name
from bridge.store.base import ArchiveStore

INBOX = state_blob_name("teams", "inbox")
MEDIA_KEY = state_blob_name("relay", "media-key")
PENDING_PREFIX = "state/relay/pending/"


def thread_doc(conversation: str) -> str:
    return state_blob_name("relay", "threads", conversation)


def teams_thread_doc(thread_id: str) -> str:
    return state_blob_name("relay", "teams-threads", thread_id)


def pending_doc(conversation: str) -> str:
    return state_blob_name("relay", "pending", conversation)


def sent_doc(wamid: str) -> str:
    return state_blob_name("relay", "sent", wamid)


async def read_json(store: ArchiveStore, name: str) -> dict[str, Any] | None:
    doc = await store.get_doc(name)
    return None if doc is None else json.loads(doc.data)


async def create_json(store: ArchiveStore, name: str, value: dict[str, Any]) -> bool:
    """Create ``name`` only if absent; False if another writer created it first."""
    try:
        await store.put_doc(name, _dump(value), etag=None)
    except ConcurrentUpdate:
        return False
    return True


async def write_json(store: ArchiveStore, name: str, value: dict[str, Any]) -> None:
    """Set ``name`` to ``value`` whatever it held (last writer wins)."""
    await update_json(store, name, lambda _current: value)


async def update_json(
    store: ArchiveStore,
    name: str,
    change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
    *,
    attempts: int = 50,
) -> dict[str, Any] | None:
    """Read-modify-write with ETags; ``change`` returns the new value, or None to leave it.

    Returns the value now stored (or the unchanged one). Retries when another writer won.
    """
    for attempt in range(attempts):
        doc = await store.get_doc(name)
        current = None if doc is None else json.loads(doc.data)
        new = change(None if current is None else json.loads(json.dumps(current)))
        if new is None:
            return current
        try:
            await store.put_doc(name, _dump(new), etag=None if doc is None else doc.etag)
            return new
        except ConcurrentUpdate:
            await asyncio.sleep(min(0.01 * (attempt + 1), 0.2))
    raise ConcurrentUpdate(f"{name}: too many concurrent updates")


def _dump(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")
