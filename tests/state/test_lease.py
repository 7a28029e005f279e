"""Leases kept in state documents: one holder at a time, lapsing on their own."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from bridge.state import DocStore, Lease, LeaseKeeper, LeaseLost

NAME = "state/test/queue.json"


@dataclass(frozen=True)
class Queue:
    items: tuple[str, ...] = ()
    lease: Lease = field(default_factory=Lease)

    def to_dict(self) -> dict[str, Any]:
        return {"items": list(self.items), "lease": self.lease.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Queue:
        return cls(tuple(data.get("items") or ()), Lease.from_dict(data.get("lease")))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_lease_values() -> None:
    lease = Lease.taken("a", 10, now=100)
    assert lease.held(105) and lease.held_by("a", 105) and not lease.held_by("b", 105)
    assert not lease.free_for("b", 105) and lease.free_for("a", 105)
    assert not lease.held(111) and lease.free_for("b", 111)
    assert Lease.from_dict(lease.to_dict()) == lease
    assert Lease.from_dict(None) == Lease() and Lease().to_dict() is None
    assert not Lease().held(0)


async def test_one_holder_at_a_time_until_it_lapses_or_is_released(store) -> None:
    clock = Clock()
    docs = DocStore(store, Queue)
    await docs.put(NAME, Queue(("x",)))
    a = LeaseKeeper(docs, "a", 60, clock=clock)
    b = LeaseKeeper(docs, "b", 60, clock=clock)

    taken = await a.take(NAME)
    assert taken is not None and a.holds(taken) and taken.items == ("x",)
    assert await b.take(NAME) is None  # held by a
    assert await a.take(NAME) is not None  # a may take its own again

    clock.now += 61  # a died: its lease lapses
    assert await b.take(NAME) is not None
    with pytest.raises(LeaseLost, match="held by b"):
        await a.renew(NAME)

    await b.release(NAME)
    assert (await docs.get(NAME)).lease == Lease()
    assert await a.take(NAME) is not None


async def test_renew_changes_the_document_and_pushes_the_expiry(store) -> None:
    clock = Clock()
    docs = DocStore(store, Queue)
    keeper = LeaseKeeper(docs, "a", 60, clock=clock)
    await docs.put(NAME, Queue(("x", "y")))
    await keeper.take(NAME)
    clock.now += 30
    doc = await keeper.renew(NAME, lambda q: Queue(q.items[1:], q.lease))
    assert doc.items == ("y",) and doc.lease == Lease("a", clock.now + 60)
    assert await docs.get(NAME) == doc


async def test_without_a_document_there_is_nothing_to_take_unless_it_may_be_created(store) -> None:
    docs = DocStore(store, Queue)
    assert await LeaseKeeper(docs, "a", 60).take(NAME) is None
    assert await docs.get(NAME) is None
    created = await LeaseKeeper(docs, "a", 60, create=Queue).take(NAME)
    assert created is not None and created.lease.owner == "a"
    with pytest.raises(LeaseLost):
        await LeaseKeeper(docs, "b", 60).renew("state/test/none.json")


async def test_of_many_concurrent_takers_exactly_one_holds_it(store) -> None:
    docs = DocStore(store, Queue)
    await docs.put(NAME, Queue())
    keepers = [LeaseKeeper(docs, f"w{n}", 60) for n in range(6)]
    results = await asyncio.gather(*(k.take(NAME, attempts=20) for k in keepers))
    assert sum(r is not None for r in results) == 1
    holder = (await docs.get(NAME)).lease.owner
    assert [k.owner for k, r in zip(keepers, results, strict=True) if r is not None] == [holder]


async def test_a_lease_kept_under_another_attribute(store) -> None:
    @dataclass(frozen=True)
    class Claimed:
        claim: Lease = field(default_factory=Lease)

        def to_dict(self) -> dict[str, Any]:
            return {"claim": self.claim.owner, "claimed_until": self.claim.until}

        @classmethod
        def from_dict(cls, data: dict[str, Any]) -> Claimed:
            owner = data.get("claim")
            return cls(Lease(owner, float(data.get("claimed_until") or 0)) if owner else Lease())

    docs = DocStore(store, Claimed)
    keeper = LeaseKeeper(docs, "t1", 300, attr="claim", create=Claimed)
    doc = await keeper.take(NAME)
    assert doc is not None and keeper.holds(doc)
    assert (await store.get_doc(NAME)).data.startswith(b'{"claim":"t1","claimed_until":')


async def test_a_take_may_be_refused_by_the_document_itself(store) -> None:
    docs = DocStore(store, Queue)
    await docs.put(NAME, Queue(("done",)))
    keeper = LeaseKeeper(docs, "a", 60)
    assert await keeper.take(NAME, eligible=lambda q: not q.items) is None
    assert (await docs.get(NAME)).lease == Lease()
    assert await keeper.take(NAME, eligible=lambda q: bool(q.items)) is not None


async def test_releasing_where_documents_may_be_created_leaves_a_free_one(store) -> None:
    """A take still on its way (cancelled, landing later) must then fail, not create one."""
    docs = DocStore(store, Queue)
    await LeaseKeeper(docs, "a", 60, create=Queue).release(NAME)
    assert await docs.get(NAME) == Queue()
    assert await docs.create(NAME, Queue(lease=Lease("a", 10**12))) is False
    await LeaseKeeper(docs, "b", 60).release("state/test/other.json")
    assert await docs.get("state/test/other.json") is None
