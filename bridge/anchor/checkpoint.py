"""The checkpoint (schema ``wabridge.checkpoint/1``) and how one is computed from the ledger.

A checkpoint holds the archive's id, the time, and for each ledger segment its name, length
(bytes and entries) and head hash — the hash of its last line, which through the chain covers
every line before it, so every record's name and ``sha256`` and through those every
attachment's hash. It is itself hashed (``sha256`` over its canonical form without that field).

Segments of today and yesterday are listed one by one. Every segment named for an earlier day
(the ledger writer starts a new segment each day, so those no longer grow) is folded, day by
day, into one digest over exactly the same fields (``sealed``): a checkpoint stays small
however old the archive, and still pins every segment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from bridge.anchor.segments import SegmentHead, scan, segment_day
from bridge.ids import LEDGER_PREFIX
from bridge.ledger import GENESIS, read_ledger_from
from bridge.record import canonical_json, parse_rfc3339, rfc3339
from bridge.store.base import ArchiveStore, BlobInfo

SCHEMA = "wabridge.checkpoint/1"
#: Segments named for this many days before the checkpoint's own day and earlier are sealed.
OPEN_DAYS = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: ``kind`` is ``unreadable`` or ``altered``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class Sealed:
    """Every segment named for a day before ``before``, folded into ``digest``."""

    before: str
    segments: int = 0
    entries: int = 0
    digest: str = GENESIS

    def to_dict(self) -> dict:
        return {
            "before": self.before,
            "segments": self.segments,
            "entries": self.entries,
            "digest": self.digest,
        }

    def fold(self, day: str, heads: list[SegmentHead]) -> Sealed:
        """This digest extended by the segments of ``day`` (which must not be sealed yet)."""
        return Sealed(
            self.before,
            self.segments + len(heads),
            self.entries + sum(h.entries for h in heads),
            fold_day(self.digest, day, heads),
        )


def fold_day(digest: str, day: str, heads: Iterable[SegmentHead]) -> str:
    """The sealed digest after one more day: sha256 over the previous digest, the day and each
    of its segments' name, bytes, entries and head, in name order."""
    h = hashlib.sha256(f"{digest}\n{day}\n".encode("ascii"))
    for head in sorted(heads, key=lambda s: s.name):
        h.update(canonical_json(head.to_dict()) + b"\n")
    return h.hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """The state of one archive's ledger at one moment."""

    archive: str
    created_at: str
    writer: str
    segments: tuple[SegmentHead, ...]
    sealed: Sealed
    sha256: str = ""

    @property
    def entries(self) -> int:
        return self.sealed.entries + sum(s.entries for s in self.segments)

    @property
    def moment(self) -> datetime:
        return parse_rfc3339(self.created_at)

    def body(self) -> dict:
        return {
            "schema": SCHEMA,
            "archive": self.archive,
            "created_at": self.created_at,
            "writer": self.writer,
            "ledger": {
                "segments": [s.to_dict() for s in self.segments],
                "sealed": self.sealed.to_dict(),
                "entries": self.entries,
            },
        }

    def sealed_copy(self) -> Checkpoint:
        return replace(self, sha256=hashlib.sha256(canonical_json(self.body())).hexdigest())

    def to_bytes(self) -> bytes:
        return canonical_json({**self.body(), "sha256": self.sha256}) + b"\n"


def parse_checkpoint(data: bytes) -> Checkpoint:
    """A checkpoint from its stored bytes (any JSON formatting); raises :class:`CheckpointError`
    if it is not one, or if its content does not match its own ``sha256``."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document")
        ledger = doc["ledger"]
        sealed = ledger["sealed"]
        checkpoint = Checkpoint(
            archive=_text(doc["archive"]),
            created_at=_text(doc["created_at"]),
            writer=_text(doc["writer"]),
            segments=tuple(SegmentHead.from_dict(s) for s in ledger["segments"]),
            sealed=Sealed(
                _day(sealed["before"]),
                _count(sealed["segments"]),
                _count(sealed["entries"]),
                _text(sealed["digest"]),
            ),
            sha256=_text(doc["sha256"]),
        )
        checkpoint.moment  # noqa: B018 - a valid time
        claimed = {k: v for k, v in doc.items() if k != "sha256"}
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError("unreadable", f"not a readable checkpoint ({exc})") from None
    actual = hashlib.sha256(canonical_json(claimed)).hexdigest()
    if actual != checkpoint.sha256 or claimed != checkpoint.body():
        raise CheckpointError(
            "altered", "its content does not match its sha256: the checkpoint was edited"
        )
    return checkpoint


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("a text field is empty or not text")
    return value


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("a count is not a count")
    return value


def _day(value: object) -> str:
    date.fromisoformat(_text(value))
    return value  # type: ignore[return-value]


def sealed_before(moment: datetime) -> str:
    """The first day a checkpoint taken at ``moment`` still lists segment by segment."""
    return (moment.astimezone(UTC).date() - timedelta(days=OPEN_DAYS)).isoformat()


def _days(first: str, stop: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(stop)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days)]


@dataclass
class CheckpointMaker:
    """Computes checkpoints of one archive, reading only what the ledger gained since the last.

    ``adopt`` takes the sealed digest of an earlier checkpoint (from the anchor), so that a
    restarted service need not read every old segment again; without one, the first
    checkpoint reads the whole ledger once.
    """

    store: ArchiveStore
    archive_id: str
    writer: str
    #: Called with a message when a segment shrank or stopped linking since it was last read.
    alarm: Callable[[str], None] | None = None
    _heads: dict[str, SegmentHead] = field(default_factory=dict)
    _sealed: Sealed | None = None

    def adopt(self, checkpoint: Checkpoint) -> None:
        if checkpoint.archive == self.archive_id and (
            self._sealed is None or checkpoint.sealed.before > self._sealed.before
        ):
            self._sealed = checkpoint.sealed

    async def make(self, now: datetime | None = None) -> Checkpoint:
        now = (now or datetime.now(UTC)).astimezone(UTC)
        before = sealed_before(now)
        listed_all = self._sealed is None or len(_days(self._sealed.before, before)) > 3
        if listed_all:
            by_day = _by_day([info async for info in self.store.list(LEDGER_PREFIX)])
            if self._sealed is None:
                self._sealed = Sealed(min(min(by_day, default=before), before))
        else:
            by_day = {}
            for day in _days(self._sealed.before, before):
                by_day[day] = [i async for i in self.store.list(f"{LEDGER_PREFIX}{day}/")]
        sealed = self._sealed
        for day in _days(sealed.before, before):
            heads = [await self._advance(info) for info in by_day.get(day, [])]
            sealed = sealed.fold(day, heads) if heads else sealed
        self._sealed = replace(sealed, before=max(sealed.before, before))
        listed: list[SegmentHead] = []
        # Yesterday, today, and tomorrow for a writer whose clock is ahead.
        for day in _days(before, (now.date() + timedelta(days=2)).isoformat()):
            if listed_all:
                infos = by_day.get(day, [])
            else:
                infos = [i async for i in self.store.list(f"{LEDGER_PREFIX}{day}/")]
            listed += [await self._advance(info) for info in infos]
        for name in [n for n in self._heads if (segment_day(n) or "") < before]:
            del self._heads[name]
        return Checkpoint(
            archive=self.archive_id,
            created_at=rfc3339(now),
            writer=self.writer,
            segments=tuple(sorted(listed, key=lambda s: s.name)),
            sealed=self._sealed,
        ).sealed_copy()

    async def _advance(self, info: BlobInfo) -> SegmentHead:
        known = self._heads.get(info.name, SegmentHead(info.name))
        if info.size < known.bytes:
            self._alarm(
                f"ledger segment {info.name} shrank from {known.bytes} to {info.size} "
                "bytes since it was last read: the ledger was altered"
            )
            known = SegmentHead(info.name)
        if info.size > known.bytes:
            data = await read_ledger_from(self.store, info.name, known.bytes)
            result = scan(data, known)
            if result.broken_at is not None:
                self._alarm(
                    f"ledger segment {info.name}: line {result.broken_at} does not link "
                    "to the line before it: the ledger was altered"
                )
            known = result.head
        self._heads[info.name] = known
        return known

    def _alarm(self, message: str) -> None:
        if self.alarm is not None:
            self.alarm(message)


def _by_day(listing: list[BlobInfo]) -> dict[str, list[BlobInfo]]:
    out: dict[str, list[BlobInfo]] = {}
    for info in listing:
        day = segment_day(info.name)
        if day is not None:
            out.setdefault(day, []).append(info)
    return out
