"""Policy acknowledgements and the messages held until one is given, in the archive's store.

Per employee, ``state/governance/acks/<object id>.json`` lists the policy versions they
accepted, and ``state/governance/held/<object id>.json`` the messages they tried to send before
accepting. :meth:`HeldMessages.release` empties the list in the same ETag-guarded write that
hands the messages out, so each held message is released exactly once even when two instances
(or two clicks on Accept) race.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from bridge.governance.state import read_doc, update_doc
from bridge.ids import new_record_id, state_blob_name
from bridge.record import now_rfc3339
from bridge.store.base import ArchiveStore

#: How many released message ids a held document remembers, as evidence of what went out.
RELEASED_MEMORY = 200


def acks_doc(object_id: str) -> str:
    return state_blob_name("governance", "acks", object_id)


def held_doc(object_id: str) -> str:
    return state_blob_name("governance", "held", object_id)


@dataclass(frozen=True)
class Acknowledgement:
    version: str
    at: str
    text_sha256: str
    record_id: str


class Acknowledgements:
    """Which policy versions each employee has accepted."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    async def get(self, object_id: str, version: str) -> Acknowledgement | None:
        doc, _ = await read_doc(self.store, acks_doc(object_id))
        entry = (doc.get("versions") or {}).get(version)
        return None if entry is None else Acknowledgement(version=version, **entry)

    async def put(self, object_id: str, ack: Acknowledgement) -> Acknowledgement:
        """Store ``ack`` unless that version was acknowledged before; returns the stored one."""

        def change(current: dict) -> tuple[dict | None, Acknowledgement]:
            versions = (current or {}).get("versions") or {}
            if ack.version in versions:
                return None, Acknowledgement(version=ack.version, **versions[ack.version])
            doc = copy.deepcopy(current) or {"object_id": object_id}
            doc.setdefault("versions", {})[ack.version] = {
                "at": ack.at, "text_sha256": ack.text_sha256, "record_id": ack.record_id,
            }
            return doc, ack

        return await update_doc(self.store, acks_doc(object_id), change)


@dataclass(frozen=True)
class HeldMessage:
    id: str
    held_at: str
    policy_version: str
    held: dict[str, Any]


class HeldMessages:
    """Messages waiting for their sender's policy acknowledgement."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    async def hold(
        self, object_id: str, policy_version: str, held: dict[str, Any],
        *, dedupe_key: str | None = None,
    ) -> HeldMessage | None:
        """Keep ``held`` (what the relay needs to send it later) durably; returns the entry.

        With ``dedupe_key`` (the Teams activity id), a message held or released before under
        the same key is not held again (a redelivered activity) and None is returned.
        """
        entry = HeldMessage(new_record_id(), now_rfc3339(), policy_version, held)

        def change(current: dict) -> tuple[dict | None, HeldMessage | None]:
            doc = copy.deepcopy(current) or {"object_id": object_id}
            if dedupe_key is not None and any(
                m.get("dedupe_key") == dedupe_key
                for m in (*doc.get("messages", []), *doc.get("released", []))
            ):
                return None, None
            doc.setdefault("messages", []).append({
                "id": entry.id, "held_at": entry.held_at, "dedupe_key": dedupe_key,
                "policy_version": entry.policy_version, "held": entry.held,
            })
            return doc, entry

        return await update_doc(self.store, held_doc(object_id), change)

    async def pending(self, object_id: str) -> list[HeldMessage]:
        doc, _ = await read_doc(self.store, held_doc(object_id))
        return [_held(m) for m in doc.get("messages") or []]

    async def release(self, object_id: str) -> list[HeldMessage]:
        """Take every held message, oldest first; a second call gets none of them again."""

        def change(current: dict) -> tuple[dict | None, list[HeldMessage]]:
            messages = (current or {}).get("messages") or []
            if not messages:
                return None, []
            doc = copy.deepcopy(current)
            at = now_rfc3339()
            released = doc.get("released") or []
            released.extend(
                {"id": m["id"], "dedupe_key": m.get("dedupe_key"), "released_at": at}
                for m in messages
            )
            doc["released"] = released[-RELEASED_MEMORY:]
            doc["messages"] = []
            return doc, [_held(m) for m in messages]

        return await update_doc(self.store, held_doc(object_id), change)


def _held(data: dict[str, Any]) -> HeldMessage:
    return HeldMessage(data["id"], data["held_at"], data["policy_version"], data["held"])
