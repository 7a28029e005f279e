"""Read-modify-write of JSON state documents under ``state/`` with ETag concurrency."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from bridge.errors import ConcurrentUpdate
from bridge.record import canonical_json
from bridge.store.base import ArchiveStore

T = TypeVar("T")

#: Attempts before giving up on a document that keeps changing under us.
MAX_ATTEMPTS = 20


async def read_doc(store: ArchiveStore, name: str) -> tuple[dict[str, Any], str | None]:
    """The document as a dict (empty if absent) and its ETag (None if absent)."""
    doc = await store.get_doc(name)
    if doc is None:
        return {}, None
    return json.loads(doc.data), doc.etag


async def update_doc(
    store: ArchiveStore, name: str,
    change: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, T]],
) -> T:
    """Apply ``change`` to the current document until the write wins the ETag race.

    ``change`` gets a fresh copy each attempt and returns ``(new_document, result)``; a
    ``new_document`` of None means "nothing to write". Returns the ``result`` of the winning
    attempt, so callers act only on what was actually stored.
    """
    for _ in range(MAX_ATTEMPTS):
        current, etag = await read_doc(store, name)
        new, result = change(current)
        if new is None:
            return result
        try:
            await store.put_doc(name, canonical_json(new), etag=etag)
        except ConcurrentUpdate:
            continue
        return result
    raise ConcurrentUpdate(f"{name} kept changing; gave up after {MAX_ATTEMPTS} attempts")
