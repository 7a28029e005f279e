"""The ledger: an append-only, hash-chained list of every record the archive accepted.

Each writer (process) appends to its own segments, so several writers never contend. Lines
written at the same moment are grouped into one append (group commit), which keeps the
ledger's cost per record small. Each line carries ``h``, the hash of the previous line's ``h``
and this line's content, so a line altered or removed inside a segment breaks the chain.
``archive verify`` compares the records against the ledger: a record changed, removed or
inserted after the fact shows up there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.ids import LEDGER_PREFIX
from bridge.record import canonical_json
from bridge.store.base import ArchiveStore

GENESIS = "0" * 64
#: How long an append waits for the entries of records still being written (group commit).
LINGER_SECONDS = 0.03
#: Azure append blobs take at most 50,000 appends; roll well before that.
MAX_APPENDS_PER_SEGMENT = 40_000


@dataclass(frozen=True)
class LedgerEntry:
    name: str
    sha256: str
    record_id: str


def chain_hash(prev: str, body: dict) -> str:
    return hashlib.sha256(prev.encode("ascii") + canonical_json(body)).hexdigest()


def entry_line(prev: str, entry: LedgerEntry) -> tuple[bytes, str]:
    """``entry`` as a segment line chained to ``prev``, and the line's hash (the next ``prev``)."""
    body = {"n": entry.name, "s": entry.sha256, "i": entry.record_id}
    line_hash = chain_hash(prev, body)
    return canonical_json({**body, "h": line_hash}) + b"\n", line_hash


class LedgerWriter:
    """Appends entries for one writer; concurrent callers share appends."""

    def __init__(self, store: ArchiveStore, writer_id: str | None = None) -> None:
        self._store = store
        self.writer_id = writer_id or os.urandom(8).hex()
        self._pending: list[tuple[LedgerEntry, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._seq = 0
        self._segment: str | None = None
        self._day: str | None = None
        self._prev = GENESIS
        self._appends = 0
        #: Records being written whose entries will follow (see :meth:`expect`).
        self._expected = 0
        self._arrived = asyncio.Event()

    def expect(self) -> None:
        """A record is being written and its entry will follow (or :meth:`unexpect`): an append
        under way waits a moment for it, so that concurrent writes share one append."""
        self._expected += 1

    def unexpect(self) -> None:
        """The record announced by :meth:`expect` will not be added after all."""
        self._expected = max(0, self._expected - 1)
        self._arrived.set()

    async def add(self, entry: LedgerEntry, *, expected: bool = False) -> None:
        """Return once ``entry`` is durable in the ledger (raises the store's error if not).

        ``expected``: the entry was announced with :meth:`expect`."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        if expected:
            self.unexpect()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_loop())
        await future

    async def _linger(self) -> None:
        """Wait up to ``LINGER_SECONDS`` while entries of records being written may follow."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        while self._expected > 0 and (left := deadline - loop.time()) > 0:
            self._arrived.clear()
            try:
                async with asyncio.timeout(left):
                    await self._arrived.wait()
            except TimeoutError:
                return

    def _roll(self) -> None:
        self._seq += 1
        self._day = datetime.now(UTC).strftime("%Y-%m-%d")
        self._segment = f"{LEDGER_PREFIX}{self._day}/{self.writer_id}-{self._seq:06d}.jsonl"
        self._prev = GENESIS
        self._appends = 0

    async def _flush_loop(self) -> None:
        while self._pending:
            await self._linger()
            batch, self._pending = self._pending, []
            today = datetime.now(UTC).strftime("%Y-%m-%d")
            if (
                self._segment is None
                or today != self._day
                or self._appends >= MAX_APPENDS_PER_SEGMENT
            ):
                self._roll()
            prev = self._prev
            lines = []
            for entry, _ in batch:
                line, prev = entry_line(prev, entry)
                lines.append(line)
            try:
                await self._store.append(self._segment, b"".join(lines))
            except BaseException as exc:  # noqa: BLE001 - handed to every waiter
                # The append may or may not have landed: start a fresh segment so the chain
                # of the next lines never depends on an unknown state.
                self._segment = None
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self._prev = prev
            self._appends += 1
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)


@dataclass
class SegmentReport:
    name: str
    entries: list[LedgerEntry]
    broken_at: int | None  # 1-based line number where the chain breaks


def linked_entry(prev: str, raw: bytes) -> tuple[LedgerEntry, str] | None:
    """One segment line's entry and hash, if the line is well formed and links to ``prev``."""
    try:
        line = json.loads(raw)
        body = {"n": line["n"], "s": line["s"], "i": line["i"]}
        if line["h"] != chain_hash(prev, body):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    return LedgerEntry(body["n"], body["s"], body["i"]), line["h"]


def parse_segment(name: str, data: bytes) -> SegmentReport:
    """Read one segment and check its chain."""
    entries: list[LedgerEntry] = []
    prev = GENESIS
    broken_at = None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        linked = linked_entry(prev, raw)
        if linked is None:
            broken_at = number
            break
        entry, prev = linked
        entries.append(entry)
    return SegmentReport(name, entries, broken_at)


def ledger_lines(data: bytes) -> Iterator[tuple[LedgerEntry | None, int]]:
    """The complete lines of a stretch of a segment, each as its entry and the offset just past
    it (relative to ``data``). A line that does not parse gives None (``archive verify`` reports
    it); a partial last line, still being written, is left out."""
    pos = 0
    while (nl := data.find(b"\n", pos)) != -1:
        line, pos = data[pos:nl], nl + 1
        entry = None
        if line.strip():
            try:
                body = json.loads(line)
                if isinstance(body["n"], str) and isinstance(body["i"], str):
                    entry = LedgerEntry(body["n"], str(body.get("s") or ""), body["i"])
            except (ValueError, KeyError, TypeError):
                entry = None
        yield entry, pos


async def read_ledger_from(
    store: ArchiveStore, name: str, offset: int, length: int | None = None
) -> bytes:
    """A segment from byte ``offset`` on (at most ``length`` bytes): only the new part where the
    backend can read a range (local, Azure), else the whole blob cut here."""
    read_from = getattr(store, "read_from", None)
    if read_from is not None:
        return await read_from(name, offset, length)
    data = (await store.read(name))[offset:]
    return data if length is None else data[:length]


async def segment_sizes(store: ArchiveStore) -> dict[str, int]:
    """Every ledger segment's size in bytes, by name."""
    return {info.name: info.size async for info in store.list(LEDGER_PREFIX)}
