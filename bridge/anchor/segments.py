"""The state of a ledger segment as a checkpoint records it: bytes, entries and head hash.

Only complete lines count (a segment's last line may still be being appended), and a segment
whose chain breaks counts up to the last line that links. Scanning can resume from a known
state, so the service reads only what a segment gained since its last checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

from bridge.ids import LEDGER_PREFIX
from bridge.ledger import GENESIS, LedgerEntry, linked_entry

_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})/")


@dataclass(frozen=True)
class SegmentHead:
    """A segment's first ``entries`` lines: ``bytes`` long, the last one's hash ``head``."""

    name: str
    bytes: int = 0
    entries: int = 0
    head: str = GENESIS

    def to_dict(self) -> dict:
        return {"name": self.name, "bytes": self.bytes, "entries": self.entries, "head": self.head}

    @classmethod
    def from_dict(cls, data: dict) -> SegmentHead:
        name, size, entries, head = data["name"], data["bytes"], data["entries"], data["head"]
        if not (isinstance(name, str) and name.startswith(LEDGER_PREFIX)):
            raise ValueError(f"not a ledger segment name: {name!r}")
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (size, entries)
        ):
            raise ValueError(f"segment {name}: bytes and entries must be counts")
        if not (isinstance(head, str) and re.fullmatch(r"[0-9a-f]{64}", head)):
            raise ValueError(f"segment {name}: head is not a sha256")
        return cls(name, size, entries, head)


@dataclass
class Scan:
    """What scanning (part of) a segment found."""

    head: SegmentHead
    entries: list[LedgerEntry] = field(default_factory=list)
    #: 1-based number of the first complete line that does not link (None: all link).
    broken_at: int | None = None
    #: Bytes after the last complete line (an append in progress, or a torn write).
    partial: int = 0
    #: The state after line n, for each n asked for in ``wanted``.
    at: dict[int, SegmentHead] = field(default_factory=dict)


def scan(data: bytes, start: SegmentHead, wanted: Collection[int] = ()) -> Scan:
    """Follow the chain through ``data``, which continues the segment after ``start``."""
    result = Scan(start)
    if start.entries in wanted:
        result.at[start.entries] = start
    pos, entries, head = 0, start.entries, start.head
    while (nl := data.find(b"\n", pos)) != -1:
        linked = linked_entry(head, data[pos:nl])
        if linked is None:
            result.broken_at = entries + 1
            break
        entry, head = linked
        pos, entries = nl + 1, entries + 1
        result.entries.append(entry)
        if entries in wanted:
            result.at[entries] = SegmentHead(start.name, start.bytes + pos, entries, head)
    result.head = SegmentHead(start.name, start.bytes + pos, entries, head)
    if result.broken_at is None:
        result.partial = len(data) - pos
    return result


def segment_day(name: str) -> str | None:
    """The day a segment is named for (``ledger/<yyyy-mm-dd>/…``): the ledger writer starts a
    new segment every day, so a segment never grows after its day. None for any other name."""
    if not name.startswith(LEDGER_PREFIX):
        return None
    match = _DAY.match(name[len(LEDGER_PREFIX) :])
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1)).isoformat()
    except ValueError:
        return None
