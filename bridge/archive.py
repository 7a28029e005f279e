"""The write side of the archive: records, media and the ledger, through one ``ArchiveStore``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

from bridge.errors import ArchiveUnavailable, RecordNotFound
from bridge.ids import RECORDS_PREFIX, event_key, media_blob_name, record_blob_name
from bridge.ledger import LedgerEntry, LedgerWriter
from bridge.record import Record
from bridge.store.base import ArchiveStore

log = logging.getLogger("wabridge.archive")


@dataclass(frozen=True)
class PutResult:
    """What :meth:`Archive.put` did: ``record`` is the stored one (the earlier copy if duplicate)."""

    record: Record
    name: str
    created: bool


class MediaMismatch(ValueError):
    """Downloaded bytes do not match the hash the source announced."""


def dedupe_key_for(record: Record, *discriminators: object) -> str:
    """The default deterministic key of a record's source event.

    Records without a source id (audit, policy, system) are keyed by their own id, so each is
    unique.
    """
    if record.source_id:
        return event_key(
            record.platform, record.kind, record.source_id, record.status, *discriminators
        )
    return event_key("record", record.id)


class Archive:
    """Writes records once, media once, and keeps the ledger; reads them back."""

    def __init__(self, store: ArchiveStore, *, writer_id: str | None = None) -> None:
        self.store = store
        self.ledger = LedgerWriter(store, writer_id)
        #: Called with each :class:`PutResult` once it is durable (quick, no I/O: e.g. to
        #: remember what was just written rather than read it back later).
        self.observers: list[Callable[[PutResult], None]] = []
        #: Ledger entries of stored records whose append failed, by record name: written by
        #: :meth:`settle_ledger` (before each checkpoint) unless the source's retry does it first.
        self.unledgered: dict[str, LedgerEntry] = {}

    async def put(self, record: Record, key: str | None = None) -> PutResult:
        """Store ``record`` (sealed here if needed) exactly once per ``key``.

        If the event was archived before, nothing is written and the earlier record is returned.
        Returns only when the record and its ledger entry are durable.
        """
        if not record.sha256 or not record.id:
            record = record.sealed()
        name = record_blob_name(record.conversation, record.sent_at, key or dedupe_key_for(record))
        self.ledger.expect()
        try:
            created = await self.store.create(name, record.canonical(), tags=_tags(record))
            stored = record if created else Record.from_bytes(await self.store.read(name))
        except BaseException:
            self.ledger.unexpect()
            raise
        # Also on a duplicate: a crash between write and ledger is healed by the source's retry.
        entry = LedgerEntry(name, stored.sha256, stored.id)
        try:
            await self.ledger.add(entry, expected=True)
        except BaseException:
            self.unledgered[name] = entry
            raise
        self.unledgered.pop(name, None)
        result = PutResult(stored, name, created)
        for observer in self.observers:
            try:
                observer(result)
            except Exception:  # noqa: BLE001 - the record is durable whatever an observer does
                log.exception("archive observer %r failed", observer)
        return result

    async def put_many(self, items: list[tuple[Record, str | None]]) -> list[PutResult]:
        """Store several records concurrently; raises if any failed (the rest may be durable)."""
        results = await asyncio.gather(
            *(self.put(rec, key) for rec, key in items), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return list(results)  # type: ignore[arg-type]

    async def settle_ledger(self) -> None:
        """Append the ledger entries still owed for records already stored (see ``unledgered``);
        raises the store's error if storage still fails."""
        for name, entry in list(self.unledgered.items()):
            await self.ledger.add(entry)
            if self.unledgered.get(name) == entry:
                del self.unledgered[name]

    async def read_record(self, name: str) -> Record:
        return Record.from_bytes(await self.store.read(name))

    async def iter_record_names(self, prefix: str = RECORDS_PREFIX) -> AsyncIterator[str]:
        async for info in self.store.list(prefix):
            if info.name.endswith(".json"):
                yield info.name

    async def iter_records(
        self, prefix: str = RECORDS_PREFIX, concurrency: int = 16
    ) -> AsyncIterator[tuple[str, bytes]]:
        """Every record blob as ``(name, raw bytes)``, read with bounded concurrency."""
        names: list[str] = []
        async for name in self.iter_record_names(prefix):
            names.append(name)
            if len(names) >= 256:
                for item in await self._read_batch(names, concurrency):
                    yield item
                names = []
        for item in await self._read_batch(names, concurrency):
            yield item

    async def _read_batch(self, names: list[str], concurrency: int) -> list[tuple[str, bytes]]:
        sem = asyncio.Semaphore(concurrency)

        async def one(name: str) -> tuple[str, bytes] | None:
            async with sem:
                try:
                    return name, await self.store.read(name)
                except RecordNotFound:
                    return None

        return [r for r in await asyncio.gather(*(one(n) for n in names)) if r is not None]

    async def find(self, record_id: str) -> Record:
        """The record with this id (via the tag index where there is one, else the ledger)."""
        names = await self.store.find_by_tags(f"\"record_id\" = '{record_id}'")
        if names:
            return await self.read_record(names[0])
        async for entry in iter_ledger_entries(self.store):
            if entry.record_id == record_id:
                return await self.read_record(entry.name)
        raise RecordNotFound(f"no record with id {record_id}")

    # -- media -----------------------------------------------------------------------------
    async def has_media(self, sha256_hex: str) -> bool:
        return await self.store.exists(media_blob_name(sha256_hex))

    async def put_media_stream(
        self, chunks: AsyncIterable[bytes], *, expected_sha256: str | None, mime_type: str
    ) -> tuple[str, int]:
        """Store media bytes once under their sha256, streaming; returns ``(sha256, size)``.

        With ``expected_sha256`` the bytes are checked against it and refused with
        :class:`MediaMismatch` if they differ (nothing is kept then).
        """
        if expected_sha256:
            digest = hashlib.sha256()
            size = 0

            async def hashed() -> AsyncIterator[bytes]:
                nonlocal size
                async for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk
                if digest.hexdigest() != expected_sha256:
                    raise MediaMismatch(
                        f"media bytes hash to {digest.hexdigest()}, expected {expected_sha256}"
                    )

            name = media_blob_name(expected_sha256)
            try:
                await self.store.create_stream(name, hashed(), content_type=mime_type)
            except MediaMismatch:
                raise
            except ArchiveUnavailable as exc:
                if isinstance(exc.__cause__, MediaMismatch):
                    raise exc.__cause__ from None
                raise
            return expected_sha256, size
        # Unknown hash: spool to a temporary file (memory-bounded) while hashing, then store.
        digest = hashlib.sha256()
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                spool.write(chunk)
            spool.seek(0)

            async def replay() -> AsyncIterator[bytes]:
                while chunk := spool.read(1024 * 1024):
                    yield chunk

            sha = digest.hexdigest()
            await self.store.create_stream(media_blob_name(sha), replay(), content_type=mime_type)
        return sha, size

    async def put_media_bytes(self, data: bytes, *, mime_type: str) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        await self.store.create(media_blob_name(sha), data, content_type=mime_type)
        return sha, len(data)

    async def close(self) -> None:
        await self.store.close()


async def iter_ledger_entries(store: ArchiveStore) -> AsyncIterator[LedgerEntry]:
    from bridge.ids import LEDGER_PREFIX
    from bridge.ledger import parse_segment

    async for info in store.list(LEDGER_PREFIX):
        for entry in parse_segment(info.name, await store.read(info.name)).entries:
            yield entry


def _tags(record: Record) -> dict[str, str]:
    return {
        "conversation": record.conversation or "internal",
        "date": record.sent_at[:10],
        "platform": record.platform,
        "kind": record.kind,
        "record_id": record.id,
    }
