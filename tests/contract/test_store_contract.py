"""One contract for every ArchiveStore backend (local directory and Azure Blob on Azurite)."""

from __future__ import annotations

import asyncio

import pytest

from bridge.errors import ArchiveUnavailable, ConcurrentUpdate, RecordNotFound
from bridge.store.base import ArchiveStore


async def test_is_an_archive_store(store):
    assert isinstance(store, ArchiveStore)


async def test_create_is_exclusive(store):
    assert await store.create("records/c/2026/11/28/a.json", b'{"v":1}') is True
    assert await store.create("records/c/2026/11/28/a.json", b'{"v":2}') is False
    assert await store.read("records/c/2026/11/28/a.json") == b'{"v":1}'


async def test_concurrent_creates_of_one_name_leave_one_winner(store):
    results = await asyncio.gather(
        *(store.create("records/c/x.json", f'{{"writer":{i}}}'.encode()) for i in range(20))
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert await store.read("records/c/x.json") == f'{{"writer":{winner}}}'.encode()


async def test_read_missing_raises_not_found(store):
    with pytest.raises(RecordNotFound):
        await store.read("records/none.json")
    assert await store.exists("records/none.json") is False


async def test_list_by_prefix_in_name_order(store):
    for name in ["records/b/2.json", "records/a/1.json", "media/ab/x", "records/a/0.json"]:
        await store.create(name, b"{}")
    names = [info.name async for info in store.list("records/")]
    assert names == ["records/a/0.json", "records/a/1.json", "records/b/2.json"]
    assert [i.name async for i in store.list("records/a/")] == [
        "records/a/0.json",
        "records/a/1.json",
    ]
    assert [i.name async for i in store.list("nothing/")] == []


async def test_docs_use_etag_concurrency(store):
    name = "state/threads/c.json"
    assert await store.get_doc(name) is None
    etag = await store.put_doc(name, b'{"n":1}', etag=None)
    with pytest.raises(ConcurrentUpdate):
        await store.put_doc(name, b'{"n":1}', etag=None)  # create-only loses to the existing doc
    doc = await store.get_doc(name)
    assert doc.data == b'{"n":1}' and doc.etag == etag
    new_etag = await store.put_doc(name, b'{"n":2}', etag=etag)
    with pytest.raises(ConcurrentUpdate):
        await store.put_doc(name, b'{"n":3}', etag=etag)  # stale ETag
    assert (await store.get_doc(name)).data == b'{"n":2}'
    await store.delete_doc(name, etag=new_etag)
    assert await store.get_doc(name) is None


async def test_only_one_of_racing_doc_updates_wins(store):
    name = "state/counter.json"
    etag = await store.put_doc(name, b"0", etag=None)
    outcomes = await asyncio.gather(
        *(store.put_doc(name, str(i).encode(), etag=etag) for i in range(1, 11)),
        return_exceptions=True,
    )
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, ConcurrentUpdate) for o in outcomes if isinstance(o, Exception))


async def test_append_grows_a_log(store):
    await store.append("ledger/2026-11-28/w-000001.jsonl", b"one\n")
    await store.append("ledger/2026-11-28/w-000001.jsonl", b"two\n")
    assert await store.read("ledger/2026-11-28/w-000001.jsonl") == b"one\ntwo\n"


async def test_streams_large_content_in_and_out(store):
    chunk = bytes(range(256)) * 4096  # 1 MiB

    async def chunks():
        for _ in range(5):
            yield chunk

    assert await store.create_stream("media/aa/big", chunks(), content_type="application/pdf")
    size = 0
    async for part in store.read_stream("media/aa/big"):
        size += len(part)
    assert size == 5 * len(chunk)


@pytest.mark.parametrize(
    "bad", ["../escape.json", "records/../../x", "/abs", "records//x", "a/\x01b"]
)
async def test_names_that_escape_the_layout_are_refused(store, bad):
    with pytest.raises(ArchiveUnavailable):
        await store.create(bad, b"{}")


async def test_reading_from_the_end_of_a_log_gives_nothing(store):
    await store.append("ledger/2026-11-29/w-000001.jsonl", b"line\n")
    assert await store.read_from("ledger/2026-11-29/w-000001.jsonl", 5) == b""
    assert await store.read_from("ledger/2026-11-29/w-000001.jsonl", 2, 2) == b"ne"


async def test_a_storage_legal_hold_where_there_is_none_is_refused_by_type(store):
    from bridge.errors import NotSupportedByBackend

    await store.create("records/h/1.json", b"{}")
    with pytest.raises(NotSupportedByBackend, match="legal hold"):
        await store.set_legal_hold("records/h/1.json", True)
