"""The archive checked against its checkpoints: the part of ``archive verify`` that an attacker
who can rewrite the whole archive — records, hashes and ledger — cannot satisfy.

A checkpoint pins, for every segment, the hash of its line ``entries``; through the chain that
is every line before it, and through each line a record's name and ``sha256``, and through the
record its attachments' hashes. So against a checkpoint:

- a segment that is gone, shorter, or whose first ``entries`` lines hash differently was
  rewritten (a record altered, removed or inserted, or media swapped, and the ledger rebuilt);
- a segment named for a day that had ended when a checkpoint was taken, but not in it, was
  added after the fact; so was any segment of the sealed days that the digest does not match;
- a record whose capture time is before a checkpoint that does not hold it was inserted
  (allowing ``LAG`` for entries still being appended and for clocks that differ);
- a record no checkpoint after its capture time could have held is ``not yet anchored``.

Checkpoints are read one by one and reduced to their distinct claims, so verifying against a
year of checkpoints needs memory for what changed, not for every checkpoint.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.anchor.checkpoint import Checkpoint, CheckpointError, Sealed, parse_checkpoint
from bridge.anchor.identity import InvalidIdentity, read_archive_id
from bridge.anchor.segments import Scan, SegmentHead, scan, segment_day
from bridge.anchor.store import AnchorStore
from bridge.errors import RecordNotFound
from bridge.ids import record_id_time
from bridge.record import parse_rfc3339
from bridge.store.base import ArchiveStore

#: How late a record's ledger entry may reach a checkpoint after its capture: group commit,
#: storage retries, and the clocks of instances that differ a little.
LAG = timedelta(minutes=2)
_NEVER = datetime.max.replace(tzinfo=UTC)
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Finding:
    kind: str
    name: str
    record_id: str | None
    detail: str


@dataclass
class _Claim:
    """One distinct statement of the checkpoints, with the earliest checkpoint making it."""

    at: datetime
    where: str
    count: int = 1

    def add(self, at: datetime, where: str) -> None:
        self.count += 1
        if at < self.at:
            self.at, self.where = at, where

    def by(self) -> str:
        more = f" (and {self.count - 1} later)" if self.count > 1 else ""
        return f"checkpoint {self.where} of {_time(self.at)}{more}"


@dataclass
class _Day:
    """What the checkpoints taken after a day ended say of that day's segments."""

    listed: set[str]
    first: _Claim
    #: A segment some checkpoint did not list, and the first such checkpoint.
    lacking: dict[str, _Claim] = field(default_factory=dict)


class AnchorCheck:
    """Claims of every usable checkpoint, checked against the ledger and the records."""

    def __init__(self, archive_id: str | None) -> None:
        self.archive_id = archive_id
        self.findings: list[Finding] = []
        self.notes: list[str] = []
        self.not_anchored = 0
        self._times: list[tuple[datetime, str]] = []
        self._claims: dict[str, dict[int, dict[tuple[int, str], _Claim]]] = {}
        self._sealed: dict[str, dict[tuple[int, int, str], _Claim]] = {}
        self._days: dict[str, _Day] = {}
        self._ids: set[str] = set()
        # Filled while the ledger is read.
        self._segments: list[str] = []
        self._heads: dict[str, SegmentHead] = {}
        self._at: dict[str, dict[int, SegmentHead]] = {}
        self._positions: dict[tuple[str, str], list[tuple[int, int]]] = {}
        # Filled by finish().
        self._line_anchor: dict[str, tuple[list[int], list[datetime]]] = {}
        self._day_anchor: dict[str, datetime] = {}
        self._befores: list[str] = []
        self._suspect_lines: dict[str, tuple[int, int]] = {}
        self._suspect_before = ""

    # -- checkpoints ---------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self._times)

    @property
    def newest(self) -> tuple[datetime, str] | None:
        return max(self._times) if self._times else None

    def add(self, where: str, data: bytes) -> Checkpoint | None:
        """Take one checkpoint's claims (or report why it cannot be used)."""
        try:
            checkpoint = parse_checkpoint(data)
        except CheckpointError as exc:
            self.findings.append(Finding(f"checkpoint-{exc.kind}", where, None, str(exc)))
            return None
        if self.archive_id is not None and checkpoint.archive != self.archive_id:
            self.findings.append(
                Finding(
                    "checkpoint-foreign",
                    where,
                    None,
                    f"a checkpoint of archive {checkpoint.archive}, and this archive is "
                    f"{self.archive_id}: the archive's identity (archive.json) was replaced, "
                    "or the anchor holds another archive's checkpoints (give each archive its "
                    "own anchor)",
                )
            )
            return None
        self._ids.add(checkpoint.archive)
        at = checkpoint.moment
        self._times.append((at, where))
        for head in checkpoint.segments:
            claims = self._claims.setdefault(head.name, {}).setdefault(head.entries, {})
            _note(claims, (head.bytes, head.head), at, where)
        sealed = checkpoint.sealed
        _note(
            self._sealed.setdefault(sealed.before, {}),
            (sealed.segments, sealed.entries, sealed.digest),
            at,
            where,
        )
        # The day before the checkpoint's, if it had ended (with LAG to spare) when it was taken.
        day = (at - LAG).date() - timedelta(days=1)
        if day.isoformat() >= sealed.before:
            listed = {h.name for h in checkpoint.segments if segment_day(h.name) == day.isoformat()}
            known = self._days.get(day.isoformat())
            if known is None:
                self._days[day.isoformat()] = _Day(listed, _Claim(at, where))
            else:
                for name in known.listed - listed:
                    _note(known.lacking, name, at, where)
                for name in listed - known.listed:
                    _note(known.lacking, name, known.first.at, known.first.where)
                known.listed |= listed
                known.first.add(at, where)
        return checkpoint

    def finish_loading(self) -> None:
        self._times.sort()
        if self.archive_id is None and self._ids:
            self.findings.append(
                Finding(
                    "archive-identity",
                    "archive.json",
                    None,
                    "the archive has no identity, but its checkpoints name "
                    + ", ".join(sorted(self._ids))
                    + ": archive.json was removed",
                )
            )

    # -- the ledger ----------------------------------------------------------------------
    def observe(self, name: str, data: bytes) -> Scan:
        """Read one ledger segment (all of it), keeping what the checkpoints ask about."""
        wanted = self._claims.get(name, {}).keys()
        result = scan(data, SegmentHead(name), wanted)
        if not self._times:
            return result
        index = len(self._segments)
        self._segments.append(name)
        self._heads[name] = result.head
        self._at[name] = result.at
        for line, entry in enumerate(result.entries, start=1):
            self._positions.setdefault((entry.name, entry.sha256), []).append((index, line))
        return result

    def finish(self) -> None:
        """Compare the ledger just read with every claim."""
        for name in sorted(self._claims):
            self._check_segment(name, self._claims[name])
        self._check_sealed()
        for day, known in sorted(self._days.items()):
            for name in sorted(n for n in self._heads if segment_day(n) == day):
                missing = known.lacking.get(name) or (None if name in known.listed else known.first)
                if missing is not None:
                    self.findings.append(
                        Finding(
                            "ledger-inserted",
                            name,
                            None,
                            f"named for {day} but not in {missing.by()}, taken after that day "
                            "ended: the segment was added after the fact",
                        )
                    )

    def _check_segment(self, name: str, claims: dict[int, dict[tuple[int, str], _Claim]]) -> None:
        current = self._heads.get(name)
        matching: list[tuple[int, datetime]] = []
        wrong: list[tuple[int, _Claim]] = []
        for entries, statements in claims.items():
            state = self._at.get(name, {}).get(entries)
            for (size, head), claim in statements.items():
                if state is not None and (state.bytes, state.head) == (size, head):
                    matching.append((entries, claim.at))
                else:
                    wrong.append((entries, claim))
        matching.sort()
        times = [t for _, t in matching]
        for i in range(len(times) - 2, -1, -1):
            times[i] = min(times[i], times[i + 1])
        self._line_anchor[name] = ([k for k, _ in matching], times)
        if not wrong:
            return
        first = min(wrong, key=lambda w: (w[1].at, w[0]))
        most = max(k for k, _ in wrong)
        low = min(k for k, _ in wrong)
        vouched = max((k for k, _ in matching if k < low), default=0)
        self._suspect_lines[name] = (vouched, most)
        if current is None:
            self.findings.append(
                Finding(
                    "ledger-missing",
                    name,
                    None,
                    f"{most} entries of it are anchored by {first[1].by()}, and the segment "
                    "is gone",
                )
            )
        elif all(k > current.entries for k, _ in wrong):
            self.findings.append(
                Finding(
                    "ledger-truncated",
                    name,
                    None,
                    f"has {current.entries} entries; {first[1].by()} anchored {first[0]}: "
                    "entries were removed and the ledger cut back",
                )
            )
        else:
            span = f"entries {vouched + 1}-{most}" if vouched else f"its first {most} entries"
            self.findings.append(
                Finding(
                    "ledger-rewritten",
                    name,
                    None,
                    f"{span} differ from {first[1].by()}: a record was altered, removed or "
                    "inserted and the ledger rebuilt",
                )
            )

    def _check_sealed(self) -> None:
        if not self._sealed:
            return
        by_day: dict[str, list[SegmentHead]] = {}
        for name, head in self._heads.items():
            day = segment_day(name)
            if day is not None:
                by_day.setdefault(day, []).append(head)
        days = sorted(by_day)
        folded = Sealed("")
        position = 0
        matches: list[tuple[str, datetime]] = []
        for before in sorted(self._sealed):
            while position < len(days) and days[position] < before:
                folded = folded.fold(days[position], by_day[days[position]])
                position += 1
            current = (folded.segments, folded.entries, folded.digest)
            for claimed, claim in self._sealed[before].items():
                if claimed == current:
                    matches.append((before, claim.at))
                    continue
                self._suspect_before = max(self._suspect_before, before)
                self.findings.append(
                    Finding(
                        "ledger-rewritten",
                        f"ledger before {before}",
                        None,
                        f"{folded.segments} segments with {folded.entries} entries now; "
                        f"{claim.by()} sealed {claimed[0]} with {claimed[1]}, and the digest "
                        "differs: a segment of those days was altered, added or removed",
                    )
                )
        best = _NEVER
        for before, at in sorted(matches, reverse=True):
            best = min(best, at)
            self._day_anchor[before] = best
        self._befores = sorted(self._day_anchor)

    # -- records -------------------------------------------------------------------------
    def check_record(
        self, name: str, sha256: str, record_id: str | None, captured_at: str | None
    ) -> Finding | None:
        """A record that passed its own hash and the ledger, checked against the checkpoints."""
        if not self._times:
            return None
        positions = self._positions.get((name, sha256), [])
        anchored = min((self._anchor_time(p) for p in positions), default=_NEVER)
        if any(self._suspect(p) for p in positions):
            return None  # its part of the ledger is already reported as rewritten
        claimed = _claimed_time(captured_at, record_id)
        i = bisect.bisect_right(self._times, (claimed + LAG, "\uffff"))
        if i == len(self._times):
            if anchored == _NEVER:
                self.not_anchored += 1
            return None
        at, where = self._times[i]
        if anchored <= at:
            return None
        late = (
            "" if anchored == _NEVER else f"; it first appears in a checkpoint of {_time(anchored)}"
        )
        return Finding(
            "inserted",
            name,
            record_id,
            f"captured {_time(claimed)}, but checkpoint {where} of {_time(at)} does not hold it"
            f"{late}: added after the fact (or its ledger entry was written late, after a crash)",
        )

    def _anchor_time(self, position: tuple[int, int]) -> datetime:
        index, line = position
        name = self._segments[index]
        best = _NEVER
        ks, times = self._line_anchor.get(name, ([], []))
        i = bisect.bisect_left(ks, line)
        if i < len(ks):
            best = times[i]
        day = segment_day(name)
        if day is not None:
            j = bisect.bisect_right(self._befores, day)
            if j < len(self._befores):
                best = min(best, self._day_anchor[self._befores[j]])
        return best

    def _suspect(self, position: tuple[int, int]) -> bool:
        index, line = position
        name = self._segments[index]
        low, high = self._suspect_lines.get(name, (0, 0))
        if low < line <= high:
            return True
        day = segment_day(name)
        return day is not None and day < self._suspect_before


def _note(claims: dict, key: object, at: datetime, where: str) -> None:
    if key in claims:
        claims[key].add(at, where)
    else:
        claims[key] = _Claim(at, where)


def _claimed_time(captured_at: str | None, record_id: str | None) -> datetime:
    """The earliest moment the record claims for itself (its capture time, its id's time)."""
    moments = []
    try:
        moments.append(parse_rfc3339(captured_at or ""))
    except ValueError:
        pass
    try:
        moments.append(record_id_time(record_id or ""))
    except (ValueError, OverflowError, OSError):
        pass
    return min(moments, default=_EPOCH)


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def load_anchor_check(
    store: ArchiveStore,
    anchor: AnchorStore | None,
    files: Sequence[Path] = (),
    *,
    concurrency: int = 16,
) -> AnchorCheck:
    """Every checkpoint of the anchor, and each file given, read into one :class:`AnchorCheck`."""
    try:
        archive_id = await read_archive_id(store)
        broken_id = None
    except InvalidIdentity as exc:
        archive_id, broken_id = None, str(exc)
    check = AnchorCheck(archive_id)
    if broken_id:
        check.findings.append(
            Finding("archive-identity", "archive.json", None, broken_id + ": it was altered")
        )
    for path in files:
        checkpoint = check.add(str(path), await asyncio.to_thread(Path(path).read_bytes))
        if checkpoint is not None:
            check.notes.append(
                f"checkpoint {path}: of {checkpoint.created_at}, sha256 {checkpoint.sha256} "
                "(compare it with the one noted when it was written)"
            )
    if anchor is not None:
        names = await anchor.names()
        sem = asyncio.Semaphore(concurrency)

        async def one(name: str) -> bytes | None:
            async with sem:
                try:
                    return await anchor.read(name)
                except RecordNotFound:
                    return None

        for start in range(0, len(names), 256):
            batch = names[start : start + 256]
            for name, data in zip(
                batch, await asyncio.gather(*(one(n) for n in batch)), strict=True
            ):
                if data is not None:
                    check.add(name, data)
    check.finish_loading()
    return check
