"""The search index: a SQLite file kept in step with the archive through the ledger.

The archive stays the only source of truth; the index only says *which* records a query
selects and in what order. It is kept current incrementally: for every ledger segment it
remembers how many bytes it has consumed, reads only the lines added since, and indexes the
records they name. ``rebuild`` makes it again from the records alone (no ledger needed).

Full text is tokenised in Python (:func:`bridge.readside.query.text_tokens`) and SQLite FTS5 only stores
those tokens (``ascii`` tokenizer, which never splits them again), so the index and the pure
matcher :func:`bridge.readside.query.matches` agree by construction.

Where it lives: ``<archive>/.index/index.sqlite3`` for a local archive (the store never lists
that directory), a per-archive cache file (``WABRIDGE_INDEX_DIR``, default
``~/.cache/wabridge/index``) for Azure archives, or any path given.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.archive import Archive
from bridge.errors import ArchiveUnavailable, RecordNotFound
from bridge.ids import LEDGER_PREFIX
from bridge.ledger import ledger_lines, read_ledger_from
from bridge.readside.index_sql import compile_query, connect, insert_into
from bridge.readside.query import RecordQuery

SCHEMA_VERSION = "1"
INDEX_DIRNAME = ".index"
INDEX_FILENAME = "index.sqlite3"

Progress = Callable[[int, int | None], None]
#: Ledger lines handled per transaction when catching up.
REFRESH_CHUNK = 5000


class IndexUnusable(Exception):
    """The index file cannot be used (belongs to another archive, unreadable)."""


@dataclass(frozen=True)
class Hit:
    """One record the index selected: where it is stored and what it is."""

    name: str
    id: str
    sent_at: str
    conversation: str | None
    platform: str
    direction: str
    kind: str
    sha256: str


def default_index_path(store: Any, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Beside a local archive, else a cache file named after the archive in ``cache_dir``
    (``WABRIDGE_INDEX_DIR``; default ``~/.cache/wabridge/index``)."""
    root = getattr(store, "root", None)
    if root is not None:
        return Path(root) / INDEX_DIRNAME / INDEX_FILENAME
    base = Path(cache_dir or Path.home() / ".cache" / "wabridge" / "index")
    digest = hashlib.sha256(str(getattr(store, "description", "")).encode("utf-8")).hexdigest()[:16]
    return base / f"{digest}.sqlite3"


class ArchiveIndex:
    """The index of one archive, in one SQLite file."""

    def __init__(self, path: Path, archive_description: str) -> None:
        self.path = Path(path)
        self._description = archive_description
        self._conn = connect(self.path)
        version = self._meta("schema")
        owner = self._meta("archive")
        if version not in (None, SCHEMA_VERSION):
            self._conn.close()
            self.path.unlink()
            self._conn = connect(self.path)
            owner = None
        if owner is not None and owner != archive_description:
            self._conn.close()
            raise IndexUnusable(
                f"the index {self.path} belongs to another archive ({owner}); "
                "give another --index or rebuild it with 'wabridge archive reindex'"
            )
        if owner is None:
            self._set_meta("schema", SCHEMA_VERSION)
            self._set_meta("archive", archive_description)

    @classmethod
    def for_archive(
        cls,
        archive: Archive,
        path: str | os.PathLike[str] | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> ArchiveIndex:
        """Open (creating if needed) the index of ``archive``; ``path`` overrides where."""
        where = Path(path) if path else default_index_path(archive.store, cache_dir)
        return cls(where, str(getattr(archive.store, "description", "")))

    def close(self) -> None:
        self._conn.close()

    # -- metadata ----------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- keeping in step ---------------------------------------------------------------
    async def refresh(self, archive: Archive, progress: Progress | None = None) -> int:
        """Index the records the ledger gained since the last call; returns how many."""
        added = 0
        consumed = dict(self._conn.execute("SELECT name, consumed FROM segments"))
        async for info in archive.store.list(LEDGER_PREFIX):
            done = consumed.get(info.name, 0)
            if info.size <= done:
                continue
            fresh = await _read_from(archive, info.name, done)
            # In chunks, each committed with the cursor just past its last line: memory stays
            # bounded on a first run over a large archive, and a crash loses no progress.
            for names, end in _ledger_chunks(fresh, REFRESH_CHUNK):
                known = self._known_names(names)
                docs = await _read_docs(archive, [n for n in names if n not in known])
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for name, doc in docs:
                        added += self._insert(name, doc)
                    self._conn.execute(
                        "INSERT INTO segments(name, consumed) VALUES (?, ?) ON CONFLICT(name) "
                        "DO UPDATE SET consumed = max(consumed, excluded.consumed)",
                        (info.name, done + end),
                    )
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                if progress:
                    progress(added, None)
        return added

    async def rebuild(self, archive: Archive, progress: Progress | None = None) -> int:
        """Make the index again from the records alone; returns how many records it holds.

        The new index is built beside the old one and then swapped in. The ledger position is
        taken *before* the records are listed, so a record written meanwhile is picked up by
        the next :meth:`refresh` (records already indexed are never indexed twice).
        """
        cursor: dict[str, int] = {}
        async for info in archive.store.list(LEDGER_PREFIX):
            start = max(0, info.size - 65536)
            tail = await _read_from(archive, info.name, start)
            cursor[info.name] = start + tail.rfind(b"\n") + 1 if b"\n" in tail else start
        tmp = self.path.with_name(self.path.name + ".rebuild")
        for leftover in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
            leftover.unlink(missing_ok=True)
        bulk = connect(tmp, bulk=True)
        total = 0
        try:
            bulk.execute("BEGIN")
            async for name, data in _all_records(archive):
                try:
                    doc = json.loads(data)
                except ValueError:
                    continue
                total += insert_into(bulk, name, doc)
                if progress and total % 1000 == 0:
                    progress(total, None)
            bulk.executemany("INSERT INTO segments(name, consumed) VALUES (?, ?)", cursor.items())
            bulk.execute("INSERT INTO meta(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
            bulk.execute("INSERT INTO meta(key, value) VALUES ('archive', ?)", (self._description,))
            bulk.execute("COMMIT")
            bulk.execute("ANALYZE")
            bulk.execute("PRAGMA journal_mode=DELETE")
        finally:
            bulk.close()
        self._conn.close()
        for stale in (Path(str(self.path) + "-wal"), Path(str(self.path) + "-shm")):
            stale.unlink(missing_ok=True)
        os.replace(tmp, self.path)
        self._conn = connect(self.path)
        if progress:
            progress(total, total)
        return total

    def _known_names(self, names: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(
                r[0]
                for r in self._conn.execute(
                    f"SELECT name FROM records WHERE name IN ({marks})", chunk
                )
            )
        return known

    def _insert(self, name: str, doc: dict[str, Any]) -> int:
        return insert_into(self._conn, name, doc)

    # -- queries -----------------------------------------------------------------------
    def search(
        self,
        query: RecordQuery,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: Hit | None = None,
    ) -> list[Hit]:
        """The records ``query`` selects, sorted by ``sent_at`` then id, one page of them.

        ``after`` continues from a hit of the previous page (cheaper than a large offset).
        """
        source, where, params = compile_query(query)
        if after is not None:
            where += " AND (r.t > ? OR (r.t = ? AND r.id > ?))"
            params = [*params, after.sent_at, after.sent_at, after.id]
        sql = (
            "SELECT r.name, r.id, r.t, r.conversation, r.platform, r.direction, r.kind, r.sha256 "
            f"FROM {source} WHERE {where} ORDER BY r.t, r.id"
        )
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params = [*params, -1 if limit is None else limit, offset]
        return [Hit(*row) for row in self._conn.execute(sql, params)]

    def count(self, query: RecordQuery) -> int:
        source, where, params = compile_query(query)
        return self._conn.execute(
            f"SELECT count(*) FROM {source} WHERE {where}", params
        ).fetchone()[0]

    def name_of(self, record_id: str) -> str | None:
        row = self._conn.execute("SELECT name FROM records WHERE id = ?", (record_id,)).fetchone()
        return row[0] if row else None

    def source_id_of(self, record_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT source_id FROM records WHERE id = ?", (record_id,)
        ).fetchone()
        return row[0] if row else None

    def stats(self) -> dict[str, Any]:
        """Counts by kind, platform and direction, conversations, first and last ``sent_at``."""
        one = self._conn.execute(
            "SELECT count(*), min(t), max(t), count(DISTINCT conversation) FROM records"
        ).fetchone()
        out: dict[str, Any] = {
            "records": one[0],
            "first": one[1],
            "last": one[2],
            "conversations": one[3],
        }
        for column in ("kind", "platform", "direction"):
            out[column] = dict(
                self._conn.execute(
                    f"SELECT {column}, count(*) FROM records GROUP BY {column} ORDER BY {column}"
                )
            )
        return out

    def size(self) -> int:
        return self._conn.execute("SELECT count(*) FROM records").fetchone()[0]


async def _with_retries(
    archive: Archive, names: AsyncIterator[str], concurrency: int = 16
) -> AsyncIterator[tuple[str, bytes]]:
    """Read blobs a batch at a time; a read that times out is tried twice more before failing
    (a long rebuild should not die of one slow answer)."""
    sem = asyncio.Semaphore(concurrency)

    async def one(name: str) -> tuple[str, bytes] | None:
        for attempt in range(3):
            async with sem:
                try:
                    return name, await archive.store.read(name)
                except RecordNotFound:
                    return None
                except ArchiveUnavailable:
                    if attempt == 2:
                        raise
            await asyncio.sleep(1 + attempt)
        return None

    batch: list[str] = []
    async for name in names:
        batch.append(name)
        if len(batch) >= 512:
            for item in await asyncio.gather(*(one(n) for n in batch)):
                if item is not None:
                    yield item
            batch = []
    for item in await asyncio.gather(*(one(n) for n in batch)):
        if item is not None:
            yield item


async def _read_from(archive: Archive, name: str, offset: int) -> bytes:
    return await read_ledger_from(archive.store, name, offset)


async def _all_records(archive: Archive) -> AsyncIterator[tuple[str, bytes]]:
    """Every record blob; in large batches where the backend can read many at once."""
    read_many = getattr(archive.store, "read_many", None)
    if read_many is None:
        async for name in _with_retries(archive, archive.iter_record_names()):
            yield name
        return
    batch: list[str] = []
    async for name in archive.iter_record_names():
        batch.append(name)
        if len(batch) >= 2000:
            for item in zip(batch, await read_many(batch), strict=True):
                if item[1] is not None:
                    yield item  # type: ignore[misc]
            batch = []
    for item in zip(batch, await read_many(batch), strict=True):
        if item[1] is not None:
            yield item  # type: ignore[misc]


def _ledger_chunks(data: bytes, size: int) -> Iterator[tuple[list[str], int]]:
    """Record names of the complete lines of ``data``, ``size`` at a time, each chunk with the
    offset just past its last line (a partial last line is left for later)."""
    names: list[str] = []
    seen: set[str] = set()
    pos = 0
    for entry, pos in ledger_lines(data):
        # A broken line is verify's finding; reindex finds its record anyway.
        if entry is not None and entry.name not in seen:
            seen.add(entry.name)
            names.append(entry.name)
        if len(names) >= size:
            yield names, pos
            names, seen = [], set()
    if pos:
        yield names, pos


async def _read_docs(
    archive: Archive, names: list[str], concurrency: int = 32
) -> list[tuple[str, dict]]:
    read_many = getattr(archive.store, "read_many", None)
    if read_many is not None:
        out = []
        for start in range(0, len(names), 2000):
            chunk = names[start : start + 2000]
            for name, data in zip(chunk, await read_many(chunk), strict=True):
                try:
                    if data is not None:
                        out.append((name, json.loads(data)))
                except ValueError:
                    continue
        return out
    sem = asyncio.Semaphore(concurrency)

    async def one(name: str) -> tuple[str, dict] | None:
        async with sem:
            try:
                return name, json.loads(await archive.store.read(name))
            except (RecordNotFound, ValueError):
                return None  # removed or malformed: archive verify reports it

    return [r for r in await asyncio.gather(*(one(n) for n in names)) if r is not None]


async def iter_selection(
    archive: Archive,
    index: ArchiveIndex,
    query: RecordQuery,
    *,
    batch: int = 1000,
    limit: int | None = None,
    offset: int = 0,
) -> AsyncIterator[tuple[Hit, bytes | None]]:
    """Every selected record with its stored bytes, in order, a batch at a time."""
    last: Hit | None = None
    remaining = limit
    first = True
    while remaining is None or remaining > 0:
        size = batch if remaining is None else min(batch, remaining)
        hits = index.search(query, limit=size, offset=offset if first else 0, after=last)
        first = False
        if not hits:
            return
        for item in await read_hits(archive, hits):
            yield item
        last = hits[-1]
        if remaining is not None:
            remaining -= len(hits)
        if len(hits) < size:
            return


async def read_hits(
    archive: Archive, hits: Iterable[Hit], concurrency: int = 32
) -> list[tuple[Hit, bytes | None]]:
    """The stored bytes of each hit, in order (None for a record no longer in the archive)."""
    sem = asyncio.Semaphore(concurrency)

    async def one(hit: Hit) -> tuple[Hit, bytes | None]:
        async with sem:
            try:
                return hit, await archive.store.read(hit.name)
            except RecordNotFound:
                return hit, None

    return list(await asyncio.gather(*(one(h) for h in hits)))
