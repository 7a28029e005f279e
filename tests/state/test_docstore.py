"""DocStore: the one read-modify-write of state documents, on every backend."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

import pytest

from bridge.errors import ConcurrentUpdate
from bridge.state import DocStore, UnreadableDoc

NAME = "state/test/counter.json"


@dataclass(frozen=True)
class Counter:
    value: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "note": self.note}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Counter:
        return cls(int(data["value"]), str(data.get("note") or ""))


def bump(doc: Counter | None) -> Counter:
    return replace(doc or Counter(), value=(doc or Counter()).value + 1)


async def test_update_creates_changes_and_leaves_alone(store) -> None:
    docs = DocStore(store, Counter)
    assert await docs.get(NAME) is None
    assert await docs.update(NAME, bump) == Counter(1)
    assert await docs.update(NAME, bump) == Counter(2)
    # None from the change: nothing is written and the stored document is returned.
    stored = await store.get_doc(NAME)
    assert await docs.update(NAME, lambda doc: None) == Counter(2)
    assert (await store.get_doc(NAME)).etag == stored.etag
    assert await docs.get(NAME) == Counter(2)


async def test_concurrent_updates_lose_nothing(store) -> None:
    docs = DocStore(store, Counter)
    await asyncio.gather(*(docs.update(NAME, bump, attempts=60) for _ in range(12)))
    assert (await docs.get(NAME)).value == 12


async def test_create_only_if_absent_and_put_overwrites(store) -> None:
    docs = DocStore(store, Counter)
    assert await docs.create(NAME, Counter(5, "first")) is True
    assert await docs.create(NAME, Counter(6, "second")) is False
    assert await docs.get(NAME) == Counter(5, "first")
    await docs.put(NAME, Counter(7, "third"))
    assert await docs.get(NAME) == Counter(7, "third")


async def test_delete_if_only_when_the_predicate_holds(store) -> None:
    docs = DocStore(store, Counter)
    await docs.put(NAME, Counter(1))
    assert await docs.delete_if(NAME, lambda doc: doc.value == 0) is False
    assert await docs.delete_if(NAME, lambda doc: doc.value == 1) is True
    assert await docs.get(NAME) is None
    assert await docs.delete_if(NAME, lambda doc: True) is False


async def test_a_document_that_is_not_of_its_layout_is_unreadable(store) -> None:
    await store.put_doc(NAME, b'{"note": "no value"}', etag=None)
    with pytest.raises(UnreadableDoc, match="counter.json"):
        await DocStore(store, Counter).get(NAME)
    await store.put_doc("state/test/list.json", b"[1, 2]", etag=None)
    with pytest.raises(UnreadableDoc):
        await DocStore(store, Counter).get("state/test/list.json")


class AlwaysLosing:
    """A store on which every conditional write loses the race."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.writes = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def put_doc(self, name, data, *, etag, content_type="application/json"):
        self.writes += 1
        raise ConcurrentUpdate(name)


async def test_retries_are_bounded(store) -> None:
    losing = AlwaysLosing(store)
    docs = DocStore(losing, Counter)
    with pytest.raises(ConcurrentUpdate, match="gave up after 4 attempts"):
        await docs.update(NAME, bump, attempts=4)
    assert losing.writes == 4


async def test_documents_are_written_as_canonical_json(store) -> None:
    await DocStore(store, Counter).put(NAME, Counter(3, "é"))
    assert (await store.get_doc(NAME)).data == '{"note":"é","value":3}'.encode()
