"""Leases: which worker may act on a document's subject, and until when.

A :class:`Lease` is an owner and an expiry (seconds since the epoch) kept inside a state
document. Whoever writes their name into it through :meth:`DocStore.update` (ETag-guarded) holds
it; it lapses on its own, so a worker that dies holding one blocks the others no longer than
the lease lasts. :class:`LeaseKeeper` takes, renews and releases the lease of documents of one
kind; the document class names the attribute the lease lives in (``lease`` by default).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bridge.errors import ArchiveUnavailable, ConcurrentUpdate
from bridge.state.docstore import DocStore


class LeaseLost(Exception):
    """The lease is held by another owner now (this one stalled past its expiry)."""


@dataclass(frozen=True)
class Lease:
    """An owner and the moment (epoch seconds) the lease lapses; no owner: free."""

    owner: str | None = None
    until: float = 0.0

    def held(self, now: float) -> bool:
        """Whether anyone holds the lease at ``now``."""
        return self.owner is not None and self.until > now

    def held_by(self, owner: str, now: float) -> bool:
        return self.owner == owner and self.until > now

    def free_for(self, owner: str, now: float) -> bool:
        """Whether ``owner`` may take it: nobody holds it, or ``owner`` does."""
        return not self.held(now) or self.owner == owner

    @classmethod
    def taken(cls, owner: str, seconds: float, now: float) -> Lease:
        return cls(owner, now + seconds)

    def to_dict(self) -> dict[str, Any] | None:
        return None if self.owner is None else {"owner": self.owner, "until": self.until}

    @classmethod
    def from_dict(cls, data: Any) -> Lease:
        if not isinstance(data, dict) or data.get("owner") is None:
            return cls()
        return cls(str(data["owner"]), float(data.get("until") or 0))


D = TypeVar("D")


class LeaseKeeper(Generic[D]):
    """Takes, renews and releases ``owner``'s lease on documents of one :class:`DocStore`.

    ``create`` makes the document when there is none yet (for a lease on something that has no
    document before its first holder, like a cursor); without it, there is nothing to take.
    """

    def __init__(
        self,
        docs: DocStore[Any],
        owner: str,
        seconds: float,
        *,
        attr: str = "lease",
        create: Callable[[], D] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.docs = docs
        self.owner = owner
        self.seconds = seconds
        self.attr = attr
        self._create = create
        self._clock = clock

    def lease_of(self, doc: Any) -> Lease:
        return getattr(doc, self.attr)

    def holds(self, doc: Any) -> bool:
        return doc is not None and self.lease_of(doc).held_by(self.owner, self._clock())

    async def take(
        self, name: str, *, attempts: int = 3, eligible: Callable[[D], bool] | None = None
    ) -> D | None:
        """The document with this owner's lease in it, or None when another owner holds it
        (or the update kept losing races, or there is no document to take, or ``eligible``
        says the document may not be taken now)."""
        now = self._clock()

        def take(doc: Any) -> Any:
            if doc is None:
                if self._create is None:
                    return None
                doc = self._create()
            if eligible is not None and not eligible(doc):
                return None
            if not self.lease_of(doc).free_for(self.owner, now):
                return None
            return dataclasses.replace(
                doc, **{self.attr: Lease.taken(self.owner, self.seconds, now)}
            )

        try:
            doc = await self.docs.update(name, take, attempts=attempts)
        except ConcurrentUpdate:
            return None
        return doc if doc is not None and self.lease_of(doc).owner == self.owner else None

    async def renew(self, name: str, change: Callable[[D], D] | None = None) -> D:
        """Apply ``change`` (if any) and push the expiry on, in one write; raises
        :class:`LeaseLost` if the lease is no longer this owner's."""
        lost: list[Lease] = []

        def renew(doc: Any) -> Any:
            lost.clear()
            lease = Lease() if doc is None else self.lease_of(doc)
            if doc is None or lease.owner != self.owner:
                lost.append(lease)
                return None
            if change is not None:
                doc = change(doc)
            return dataclasses.replace(
                doc, **{self.attr: Lease.taken(self.owner, self.seconds, self._clock())}
            )

        doc = await self.docs.update(name, renew)
        if lost:
            raise LeaseLost(f"{name}: the lease is held by {lost[0].owner or 'nobody'}")
        return doc  # type: ignore[return-value]

    async def release(self, name: str) -> None:
        """Give the lease up so that another owner may take it at once. Best effort: on storage
        trouble the lease simply lapses.

        Where documents may be created (``create``), a missing one is written free: a take of
        this owner still on its way (cancelled, landing later) then finds a document and fails
        instead of creating one holding the lease."""

        def release(doc: Any) -> Any:
            if doc is None:
                return None if self._create is None else self._create()
            if self.lease_of(doc).owner != self.owner:
                return None
            return dataclasses.replace(doc, **{self.attr: Lease()})

        try:
            await self.docs.update(name, release, attempts=3)
        except (ConcurrentUpdate, ArchiveUnavailable):
            pass
