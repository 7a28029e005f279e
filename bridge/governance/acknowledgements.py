"""Policy acknowledgements and the messages held until one is given, in the archive's store.

Per employee, ``state/governance/acks/<object id>.json`` lists the policy versions they
accepted, and ``state/governance/held/<object id>.json`` the messages they tried to send before
accepting. :meth:`HeldMessages.release` empties the list in the same ETag-guarded write that
hands the messages out, so each held message is released exactly once even when two instances
(or two clicks on Accept) race.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bridge.ids import new_record_id, state_blob_name
from bridge.record import now_rfc3339
from bridge.state import DocStore
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


@dataclass(frozen=True)
class AcksDoc:
    """``state/governance/acks/<object id>.json``: the policy versions one employee accepted."""

    object_id: str
    versions: dict[str, Acknowledgement] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id,
            "versions": {
                v: {"at": a.at, "text_sha256": a.text_sha256, "record_id": a.record_id}
                for v, a in self.versions.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcksDoc:
        return cls(
            str(data.get("object_id") or ""),
            {v: Acknowledgement(version=v, **e) for v, e in (data.get("versions") or {}).items()},
        )


class Acknowledgements:
    """Which policy versions each employee has accepted."""

    def __init__(self, store: ArchiveStore) -> None:
        self.docs = DocStore(store, AcksDoc)

    async def get(self, object_id: str, version: str) -> Acknowledgement | None:
        doc = await self.docs.get(acks_doc(object_id))
        return doc.versions.get(version) if doc else None

    async def put(self, object_id: str, ack: Acknowledgement) -> Acknowledgement:
        """Store ``ack`` unless that version was acknowledged before; returns the stored one."""

        def change(current: AcksDoc | None) -> AcksDoc | None:
            doc = current or AcksDoc(object_id)
            if ack.version in doc.versions:
                return None
            return replace(doc, versions={**doc.versions, ack.version: ack})

        stored = await self.docs.update(acks_doc(object_id), change)
        return stored.versions[ack.version]  # type: ignore[union-attr]


@dataclass(frozen=True)
class HeldMessage:
    id: str
    held_at: str
    policy_version: str
    held: dict[str, Any]
    dedupe_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "held_at": self.held_at,
            "dedupe_key": self.dedupe_key,
            "policy_version": self.policy_version,
            "held": self.held,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeldMessage:
        return cls(
            data["id"],
            data["held_at"],
            data["policy_version"],
            data["held"],
            data.get("dedupe_key"),
        )


@dataclass(frozen=True)
class HeldDoc:
    """``state/governance/held/<object id>.json``: the messages one employee tried to send
    before accepting, and the last ``RELEASED_MEMORY`` released (id, dedupe key, when)."""

    object_id: str
    messages: tuple[HeldMessage, ...] = ()
    released: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id,
            "messages": [m.to_dict() for m in self.messages],
            "released": list(self.released),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeldDoc:
        return cls(
            str(data.get("object_id") or ""),
            tuple(HeldMessage.from_dict(m) for m in data.get("messages") or ()),
            tuple(data.get("released") or ()),
        )


class HeldMessages:
    """Messages waiting for their sender's policy acknowledgement."""

    def __init__(self, store: ArchiveStore) -> None:
        self.docs = DocStore(store, HeldDoc)

    async def hold(
        self,
        object_id: str,
        policy_version: str,
        held: dict[str, Any],
        *,
        dedupe_key: str | None = None,
    ) -> HeldMessage | None:
        """Keep ``held`` (what the relay needs to send it later) durably; returns the entry.

        With ``dedupe_key`` (the Teams activity id), a message held or released before under
        the same key is not held again (a redelivered activity) and None is returned.
        """
        entry = HeldMessage(new_record_id(), now_rfc3339(), policy_version, held, dedupe_key)

        def change(current: HeldDoc | None) -> HeldDoc | None:
            doc = current or HeldDoc(object_id)
            if dedupe_key is not None and (
                any(m.dedupe_key == dedupe_key for m in doc.messages)
                or any(r.get("dedupe_key") == dedupe_key for r in doc.released)
            ):
                return None
            return replace(doc, messages=(*doc.messages, entry))

        stored = await self.docs.update(held_doc(object_id), change)
        return entry if stored is not None and entry in stored.messages else None

    async def pending(self, object_id: str) -> list[HeldMessage]:
        doc = await self.docs.get(held_doc(object_id))
        return list(doc.messages) if doc else []

    async def release(self, object_id: str) -> list[HeldMessage]:
        """Take every held message, oldest first; a second call gets none of them again."""
        taken: list[HeldMessage] = []

        def change(current: HeldDoc | None) -> HeldDoc | None:
            taken.clear()
            if current is None or not current.messages:
                return None
            taken.extend(current.messages)
            at = now_rfc3339()
            released = current.released + tuple(
                {"id": m.id, "dedupe_key": m.dedupe_key, "released_at": at}
                for m in current.messages
            )
            return replace(current, messages=(), released=released[-RELEASED_MEMORY:])

        await self.docs.update(held_doc(object_id), change)
        return list(taken)
