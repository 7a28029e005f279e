"""Legal hold: an application-level registry of holds, plus the storage service's own hold.

The registry is one state document (``state/holds/registry.json``) updated with ETag
concurrency; holds are never removed from it, only cleared (who and when is kept). Any
deletion or retention job we run asks :func:`is_held` first. Where the storage account
supports it (Azure with version-level immutability), the affected blobs also get Azure's legal
hold; where it does not (a local directory, Azurite), the application hold still applies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from bridge.archive import Archive
from bridge.errors import NotSupportedByBackend
from bridge.ids import media_blob_name, new_record_id, state_blob_name
from bridge.readside.query import record_party_keys, wanted_keys
from bridge.record import now_rfc3339
from bridge.state import DocStore

REGISTRY = state_blob_name("holds", "registry")


@dataclass(frozen=True)
class Hold:
    """One hold of one case on a conversation or on a participant's records."""

    id: str
    case: str
    conversation: str | None
    participant: str | None
    created_at: str
    created_by: str
    cleared_at: str | None = None
    cleared_by: str | None = None

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    def covers(self, record: dict[str, Any]) -> bool:
        """Whether this hold (active or not) applies to a stored record."""
        if self.conversation is not None:
            return record.get("conversation") == self.conversation
        if self.participant is not None:
            return bool(record_party_keys(record) & wanted_keys(self.participant))
        return False

    def scope(self) -> str:
        return (
            f"conversation {self.conversation}"
            if self.conversation
            else f"participant {self.participant}"
        )


def is_held(record: dict[str, Any], holds: Iterable[Hold]) -> bool:
    """Whether any *active* hold covers ``record``: then nothing may delete or change it."""
    return any(h.active and h.covers(record) for h in holds)


@dataclass(frozen=True)
class HoldsDoc:
    """``state/holds/registry.json``: every hold ever set, cleared ones included."""

    holds: tuple[Hold, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"holds": [asdict(h) for h in self.holds]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HoldsDoc:
        return cls(tuple(Hold(**item) for item in data.get("holds") or ()))


class HoldRegistry:
    """The holds of one archive, in its store."""

    def __init__(self, archive: Archive) -> None:
        self._docs = DocStore(archive.store, HoldsDoc)

    async def all(self) -> list[Hold]:
        doc = await self._docs.get(REGISTRY)
        return list(doc.holds) if doc else []

    async def active(self) -> list[Hold]:
        return [h for h in await self.all() if h.active]

    async def add(
        self, case: str, *, conversation: str | None, participant: str | None, by: str
    ) -> Hold:
        if not case.strip():
            raise ValueError("a hold needs a case name")
        if (conversation is None) == (participant is None):
            raise ValueError("a hold covers either a conversation or a participant")
        hold = Hold(new_record_id(), case.strip(), conversation, participant, now_rfc3339(), by)

        def change(holds: list[Hold]) -> list[Hold]:
            return holds + [hold]

        await self._update(change)
        return hold

    async def clear(
        self, case: str, *, conversation: str | None = None, participant: str | None = None, by: str
    ) -> list[Hold]:
        """Clear the active holds of ``case`` (only those on the given scope, if one is given)."""
        cleared: list[Hold] = []

        def change(holds: list[Hold]) -> list[Hold]:
            cleared.clear()
            out = []
            for h in holds:
                if (
                    h.active
                    and h.case == case
                    and (conversation is None or h.conversation == conversation)
                    and (participant is None or h.participant == participant)
                ):
                    h = Hold(**{**asdict(h), "cleared_at": now_rfc3339(), "cleared_by": by})
                    cleared.append(h)
                out.append(h)
            return out

        await self._update(change)
        return cleared

    async def _update(self, change: Callable[[list[Hold]], list[Hold]]) -> None:
        def apply(doc: HoldsDoc | None) -> HoldsDoc:
            return HoldsDoc(tuple(change(list(doc.holds) if doc else [])))

        await self._docs.update(REGISTRY, apply)


@dataclass
class StorageHoldResult:
    """What the storage service did about its own legal hold."""

    blobs: int = 0
    unsupported: str | None = None


async def set_storage_hold(archive: Archive, names: Iterable[str], hold: bool) -> StorageHoldResult:
    """Set (or lift) the storage service's legal hold on blobs; stops at the first refusal."""
    result = StorageHoldResult()
    for name in names:
        try:
            await archive.store.set_legal_hold(name, hold)
        except NotSupportedByBackend as exc:
            result.unsupported = str(exc)
            return result
        result.blobs += 1
    return result


def blobs_of(name_and_doc: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """Record blobs and the media blobs they name, without repeats."""
    out: dict[str, None] = {}
    for name, doc in name_and_doc:
        out[name] = None
        for att in doc.get("attachments") or []:
            try:
                out[media_blob_name(att.get("sha256") or "")] = None
            except ValueError:
                continue
    return list(out)
