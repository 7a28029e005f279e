"""Writing through the archive: exactly once per source event, on every backend."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from bridge.archive import Archive
from bridge.verify import verify_archive
from tests.support.records import inbound_text, write_inbound

ROOT = Path(__file__).resolve().parents[2]


async def test_same_event_twice_is_stored_once_and_returns_the_first(store):
    archive = Archive(store)
    first = await archive.put(inbound_text(1))
    again = await archive.put(inbound_text(1))  # a redelivery: new capture time, same event
    assert first.created and not again.created
    assert again.record == first.record
    names = [n async for n in archive.iter_record_names()]
    assert names == [first.name]


async def test_wamid_with_slashes_never_reaches_a_name(store):
    archive = Archive(store)
    result = await archive.put(inbound_text(7))
    assert "/" in result.record.source_id
    assert result.name.count("/") == 5  # records/<conv>/<yyyy>/<mm>/<dd>/<key>.json
    assert result.record.source_id not in result.name


async def test_concurrent_duplicates_in_one_process_leave_one_record(store):
    archive = Archive(store)
    results = await asyncio.gather(*(archive.put(inbound_text(9)) for _ in range(10)))
    assert sum(r.created for r in results) == 1
    assert len({r.record.id for r in results}) == 1
    report = await verify_archive(archive)
    assert report.ok and report.records == 1


def _writer(env: dict, count: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.write_events", str(count)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def test_two_processes_writing_the_same_200_events_leave_200_records(archive_location):
    procs = [_writer(archive_location["env"], 200) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    created = sum(json.loads(out)["created"] for out, _ in outputs)
    assert created == 200  # each event created by exactly one of the two processes
    store = archive_location["open"]()
    try:
        archive = Archive(store)
        names = [n async for n in archive.iter_record_names()]
        assert len(names) == 200
        report = await verify_archive(archive)
        assert report.ok, [p.line() for p in report.problems]
        assert report.records == 200
    finally:
        await store.close()


async def test_write_many_then_read_back_every_record(store):
    archive = Archive(store)
    results = await write_inbound(archive, 30)
    stored = {json.loads(data)["id"] async for _, data in archive.iter_records()}
    assert stored == {r.record.id for r in results}
    found = await archive.find(results[17].record.id)
    assert found == results[17].record


class UnevenStore:
    """A real store whose writes take unevenly long (1 ms more for each one), counting the
    ledger appends made through it."""

    def __init__(self, store) -> None:
        self._store = store
        self.appends = 0
        self._writes = 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def create(self, name: str, data: bytes, **kw) -> bool:
        self._writes += 1
        await asyncio.sleep(0.001 * self._writes)
        return await self._store.create(name, data, **kw)

    async def append(self, name: str, data: bytes) -> None:
        self.appends += 1
        await self._store.append(name, data)


async def test_concurrent_writes_share_ledger_appends_and_each_is_listed_once(store):
    uneven = UnevenStore(store)
    archive = Archive(uneven)
    await archive.put(inbound_text(0))  # a lone write is appended at once
    assert uneven.appends == 1

    results = await asyncio.gather(*(archive.put(inbound_text(n)) for n in range(1, 65)))
    assert all(r.created for r in results)
    # 64 records written together, finishing over some 64 ms, reach the ledger in a handful
    # of appends rather than one each.
    assert uneven.appends <= 1 + 16, uneven.appends
    report = await verify_archive(archive)
    assert report.ok and report.records == 65
