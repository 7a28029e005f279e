"""The archive's identity: one create-only document, ``archive.json``, written once.

A checkpoint names the archive it was taken of, so that ``archive verify`` can tell a
checkpoint of this archive from one of another (an anchor shared by mistake, or an identity
replaced to shake off the checkpoints). The id is not derived from where the archive lives: a
copy of an archive keeps its id, and its checkpoints still apply to it.
"""

from __future__ import annotations

import json
import re

from bridge.errors import ArchiveError, RecordNotFound
from bridge.ids import new_record_id
from bridge.record import canonical_json, now_rfc3339
from bridge.store.base import ArchiveStore

ARCHIVE_ID_BLOB = "archive.json"
SCHEMA = "wabridge.archive/1"
_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


class InvalidIdentity(ArchiveError):
    """``archive.json`` exists but is not an archive identity."""


async def read_archive_id(store: ArchiveStore) -> str | None:
    """The archive's id, or None if it has none yet."""
    try:
        data = await store.read(ARCHIVE_ID_BLOB)
    except RecordNotFound:
        return None
    try:
        doc = json.loads(data)
        ok = doc["schema"] == SCHEMA and isinstance(doc["id"], str) and _ID.match(doc["id"])
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise InvalidIdentity(f"{ARCHIVE_ID_BLOB} is not a wabridge archive identity")
    return doc["id"]


async def ensure_archive_id(store: ArchiveStore) -> str:
    """The archive's id, created now if it has none (several writers agree on the first)."""
    found = await read_archive_id(store)
    if found is not None:
        return found
    doc = {"schema": SCHEMA, "id": new_record_id(), "created_at": now_rfc3339()}
    if await store.create(ARCHIVE_ID_BLOB, canonical_json(doc) + b"\n"):
        return doc["id"]
    found = await read_archive_id(store)
    if found is None:  # pragma: no cover - created by another writer, then gone
        raise InvalidIdentity(f"{ARCHIVE_ID_BLOB} vanished while it was being created")
    return found
