"""The audited reads themselves (bridge.readside.reads): what each returns and audits."""

from __future__ import annotations

import json

import pytest

from bridge.archive import Archive
from bridge.readside.index import ArchiveIndex
from bridge.readside.query import RecordQuery
from bridge.readside.reads import Reader
from bridge.record import Party
from tests.readside.support import CONV, build

OFFICER = Party("officer@contoso.com", "Officer", "teams", "officer@contoso.com")


@pytest.fixture
async def reader(tmp_path):
    from bridge.store.local import LocalStore

    archive = Archive(LocalStore(tmp_path / "archive"))
    await build(archive, 20)
    index = ArchiveIndex(tmp_path / "index.sqlite3", archive.store.description)
    try:
        yield Reader(archive, index, OFFICER)
    finally:
        index.close()
        await archive.close()


async def audits(reader: Reader) -> list[dict]:
    out = [json.loads(data) async for _, data in reader.archive.iter_records()]
    return sorted((r for r in out if r["kind"] == "audit"), key=lambda r: r["id"])


async def test_search_emits_in_time_order_and_audits_what_it_showed(reader) -> None:
    shown: list[dict] = []
    result = await reader.search(
        RecordQuery(conversation=CONV), lambda doc, data: shown.append(doc)
    )
    assert result.shown == result.total == len(shown) > 0
    assert [d["sent_at"] for d in shown] == sorted(d["sent_at"] for d in shown)
    (audit,) = await audits(reader)
    assert audit["type"] == "search" and audit["sender"]["id"] == OFFICER.id
    assert audit["raw"]["count"] == len(shown) and audit["raw"]["query"] == {"conversation": CONV}


async def test_a_reader_that_goes_away_is_audited_for_what_it_read(reader) -> None:
    seen: list[dict] = []

    def emit(doc: dict, data: bytes) -> None:
        if len(seen) == 2:
            raise BrokenPipeError
        seen.append(doc)

    for scan in (False, True):
        seen.clear()
        result = await reader.search(RecordQuery(), emit, scan=scan)
        assert result.reader_gone and result.shown == 2
    assert [a["raw"]["count"] for a in await audits(reader)] == [2, 2]


async def test_show_audits_a_miss_too(reader) -> None:
    assert await reader.show("01JZZZZZZZZZZZZZZZZZZZZZZZ") is None
    (audit,) = await audits(reader)
    assert audit["type"] == "show" and audit["raw"]["count"] == 0


async def test_holds_set_list_and_clear_are_audited(reader) -> None:
    placed = await reader.set_hold("Doe v. Contoso", conversation=CONV, participant=None)
    assert placed.records > 0 and placed.hold.active
    assert placed.storage.unsupported  # a local directory has no storage legal hold
    assert [h.id for h in await reader.list_holds()] == [placed.hold.id]
    cleared = await reader.clear_hold("Doe v. Contoso")
    assert [h.id for h in cleared.holds] == [placed.hold.id] and cleared.released == placed.records
    assert await reader.list_holds() == []
    assert [h.id for h in await reader.list_holds(include_cleared=True)] == [placed.hold.id]
    types = [a["type"] for a in await audits(reader)]
    assert types == ["hold-set", "hold-list", "hold-clear", "hold-list", "hold-list"]
