"""Checkpoints as the service makes them: older days folded into one digest the same way
however it was reached, records caught between a checkpoint and its ledger read not mistaken
for insertions, ledger entries still owed written first, several writers side by side."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bridge.anchor.checkpoint import CheckpointMaker, parse_checkpoint
from bridge.anchor.identity import ensure_archive_id
from bridge.anchor.store import AnchorStore, name_time
from bridge.anchor.writer import CheckpointWriter
from bridge.archive import Archive
from bridge.errors import ArchiveUnavailable
from bridge.ids import LEDGER_PREFIX, event_key, record_blob_name
from bridge.ledger import LedgerEntry
from bridge.record import rfc3339
from bridge.store.local import LocalStore
from bridge.verify import verify_archive
from tests.support.records import inbound_text, write_inbound
from tests.support.tamper import chained

NOON = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


async def _segment_of_day(store, day: datetime, writer: str, count: int, first: int) -> None:
    """A ledger segment named for ``day`` with ``count`` records captured that day."""
    entries = []
    for n in range(first, first + count):
        record = inbound_text(n).sealed(rfc3339(day + timedelta(minutes=n)))
        name = record_blob_name(record.conversation, record.sent_at, event_key("day", n))
        await store.create(name, record.canonical())
        entries.append(LedgerEntry(name, record.sha256, record.id))
    await store.append(f"{LEDGER_PREFIX}{day:%Y-%m-%d}/{writer}-000001.jsonl", chained(entries))


@pytest.fixture
async def history(store):
    """Segments of five days ago, three days ago, yesterday and today."""
    for n, (back, writer) in enumerate(((5, "aa"), (3, "bb"), (3, "cc"), (1, "dd"), (0, "ee"))):
        await _segment_of_day(store, NOON - timedelta(days=back), writer, 3, 10 * n)
    return store


async def test_older_days_fold_to_the_same_digest_from_scratch_incrementally_or_adopted(
    history, tmp_path
):
    archive_id = await ensure_archive_id(history)
    running = CheckpointMaker(history, archive_id, "tests")
    first = await running.make(NOON)
    assert first.sealed.before == (NOON - timedelta(days=1)).strftime("%Y-%m-%d")
    assert (first.sealed.segments, first.sealed.entries) == (3, 9)
    assert [s.name.split("/")[2] for s in first.segments] == ["dd-000001.jsonl", "ee-000001.jsonl"]
    assert first.entries == 15

    await _segment_of_day(history, NOON, "ff", 2, 90)
    tomorrow = NOON + timedelta(days=1)
    later = await running.make(tomorrow)  # folds yesterday, reading only that day
    fresh = await CheckpointMaker(history, archive_id, "tests").make(tomorrow)
    adopting = CheckpointMaker(history, archive_id, "tests")
    adopting.adopt(first)
    adopted = await adopting.make(tomorrow)
    assert later.sealed == fresh.sealed == adopted.sealed
    assert (later.sealed.segments, later.sealed.entries) == (4, 12)
    assert later.segments == fresh.segments == adopted.segments
    assert later.entries == 17

    files = []
    for n, checkpoint in enumerate((first, later, fresh, adopted)):
        assert parse_checkpoint(checkpoint.to_bytes()) == checkpoint
        files.append(tmp_path / f"cp-{n}.json")
        files[-1].write_bytes(checkpoint.to_bytes())
    report = await verify_archive(Archive(history), checkpoint_files=files)
    assert report.ok, [p.line() for p in report.problems]
    assert report.checkpoints == 4 and report.not_anchored == 0


async def test_a_record_whose_ledger_entry_missed_the_checkpoint_by_seconds_is_not_an_insertion(
    store, tmp_path
):
    archive = Archive(store)
    await write_inbound(archive, 2)
    checkpoint = await CheckpointMaker(store, await ensure_archive_id(store), "tests").make()
    (tmp_path / "cp.json").write_bytes(checkpoint.to_bytes())
    # Captured 30 s before the checkpoint, its ledger entry appended just after it.
    late = inbound_text(7).sealed(rfc3339(checkpoint.moment - timedelta(seconds=30)))
    await archive.put(late)
    report = await verify_archive(archive, checkpoint_files=[tmp_path / "cp.json"])
    assert report.ok, [p.line() for p in report.problems]
    assert report.not_anchored == 1
    # The same, captured ten minutes before: that checkpoint should have held it.
    backdated = inbound_text(8).sealed(rfc3339(checkpoint.moment - timedelta(minutes=10)))
    await archive.put(backdated)
    report = await verify_archive(archive, checkpoint_files=[tmp_path / "cp.json"])
    assert [p.kind for p in report.problems] == ["inserted"]
    assert report.problems[0].record_id == backdated.id


class _LedgerOutage(LocalStore):
    """A local store whose ledger appends fail while ``down`` (records still land)."""

    down = False

    async def append(self, name: str, data: bytes) -> None:
        if self.down:
            raise ArchiveUnavailable("ledger append refused")
        await super().append(name, data)


async def test_ledger_entries_still_owed_are_written_before_a_checkpoint(tmp_path):
    store = _LedgerOutage(tmp_path / "archive")
    await store.ensure_ready()
    archive = Archive(store)
    anchor = AnchorStore(LocalStore(tmp_path / "anchor"))
    writer = CheckpointWriter(archive, anchor, interval=300)
    store.down = True
    with pytest.raises(ArchiveUnavailable):
        await archive.put(inbound_text(1))
    assert list(archive.unledgered) and not [i async for i in store.list(LEDGER_PREFIX)]
    with pytest.raises(ArchiveUnavailable):
        await writer.turn()  # storage still refuses: no checkpoint that would miss the record
    assert await anchor.names() == []
    store.down = False
    name = await writer.turn()
    assert name is not None and archive.unledgered == {}
    checkpoint = parse_checkpoint(await anchor.read(name))
    assert checkpoint.entries == 1
    report = await verify_archive(archive, anchor=anchor)
    assert report.ok and report.checkpoints == 1 and report.not_anchored == 0


async def test_several_writers_share_one_anchor_without_conflict(store, tmp_path):
    """``store`` (a directory, or an Azurite container written with If-None-Match) is the
    anchor here."""
    archive = Archive(LocalStore(tmp_path / "archive"))
    await archive.store.ensure_ready()
    await write_inbound(archive, 3)
    anchor = AnchorStore(store)
    writers = [CheckpointWriter(archive, anchor, interval=300) for _ in range(3)]
    written = await asyncio.gather(*(w.turn() for w in writers))
    names = await anchor.names()
    assert len(set(names)) == len(names) and set(written) - {None} <= set(names)
    assert names and all(name_time(n) is not None for n in names)
    # Another instance's checkpoint is younger than half the interval: this turn is skipped.
    late = CheckpointWriter(archive, anchor, interval=300)
    assert await late.turn() is None
    # A name already taken is never overwritten: the next free one is used.
    checkpoint = parse_checkpoint(await anchor.read(names[0]))
    again = await anchor.put(checkpoint, names[0].rsplit("Z-", 1)[1].removesuffix(".json"))
    assert again != names[0] and await anchor.read(names[0]) == checkpoint.to_bytes()
    report = await verify_archive(archive, anchor=anchor)
    assert report.ok and report.checkpoints == len(names) + 1


async def test_a_segment_added_for_a_day_that_had_ended_when_a_checkpoint_was_taken(
    history, tmp_path
):
    checkpoint = await CheckpointMaker(history, await ensure_archive_id(history), "tests").make(
        NOON
    )
    (tmp_path / "cp.json").write_bytes(checkpoint.to_bytes())
    report = await verify_archive(Archive(history), checkpoint_files=[tmp_path / "cp.json"])
    assert report.ok, [p.line() for p in report.problems]
    yesterday = NOON - timedelta(days=1)
    await _segment_of_day(history, yesterday, "zz", 1, 500)
    report = await verify_archive(Archive(history), checkpoint_files=[tmp_path / "cp.json"])
    forged = f"{LEDGER_PREFIX}{yesterday:%Y-%m-%d}/zz-000001.jsonl"
    (finding,) = [p for p in report.problems if p.kind == "ledger-inserted"]
    assert finding.name == forged and "taken after that day ended" in finding.detail
