"""Media capture: fetch WhatsApp media at once, store it once, retry durably until it is in.

Meta's media ids expire after 7 days, so the bytes are fetched as soon as a record names them:
first within a short budget before the webhook's 200, and otherwise from a durable pending list
(one document per media under ``state/media-pending/``) that a worker retries with backoff and
that survives restarts. Bytes are streamed from the Graph API (a :class:`bot.ports.MediaFetcher`)
into the archive, checked against the sha256 the webhook announced, and stored once under it
(``media/ab/<sha256>``). A worker holds an item under a lease while it fetches it, so that two
instances do not fetch one item at once, and one that dies holds it no longer than the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.ports import MediaFetcher, WhatsAppSendError
from bot.settings import MediaSettings
from bridge.archive import Archive, MediaMismatch
from bridge.convert.internal import media_fetched_record
from bridge.errors import ArchiveError
from bridge.ids import STATE_PREFIX, event_key, media_blob_name, state_blob_name
from bridge.record import Attachment, Record, now_rfc3339, parse_rfc3339, rfc3339
from bridge.state import DocStore, Lease, LeaseKeeper, UnreadableDoc
from bridge.store.base import ArchiveStore

log = logging.getLogger("wabridge.media")

PENDING_DIR = "media-pending"
PENDING_PREFIX = f"{STATE_PREFIX}{PENDING_DIR}/"


@dataclass(frozen=True)
class PendingMedia:
    """One media item still to fetch, as kept in ``state/media-pending/<sha256>.json``.

    The lease is kept as ``lease_until`` (RFC 3339, as earlier versions read it) and
    ``lease_owner``."""

    sha256: str | None
    media_id: str
    mime_type: str | None
    record_id: str
    record_name: str | None = None
    conversation: str | None = None
    created_at: str = ""
    attempts: int = 0
    next_attempt_at: str = ""
    last_error: str | None = None
    mismatches: int = 0
    lease: Lease = field(default_factory=Lease, compare=False)

    @property
    def doc_name(self) -> str:
        return pending_doc_name(self.sha256, self.media_id)

    def due(self, now: datetime) -> bool:
        return not self.next_attempt_at or parse_rfc3339(self.next_attempt_at) <= now

    def to_json(self) -> bytes:
        """The item as ``archive pending --json`` prints it."""
        data = self.to_dict()
        data.pop("lease_owner")
        return json.dumps(data, sort_keys=True).encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "lease"
        }
        held = self.lease.owner is not None
        out["lease_until"] = (
            rfc3339(datetime.fromtimestamp(self.lease.until, UTC)) if held else None
        )
        out["lease_owner"] = self.lease.owner
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingMedia:
        known = {f.name for f in fields(cls)} - {"lease"}
        until = data.get("lease_until")
        lease = (
            Lease(str(data.get("lease_owner") or "unknown"), parse_rfc3339(until).timestamp())
            if until
            else Lease()
        )
        return cls(**{k: v for k, v in data.items() if k in known}, lease=lease)


def pending_doc_name(sha256: str | None, media_id: str) -> str:
    return state_blob_name(PENDING_DIR, sha256 or f"media-id-{media_id}")


def media_to_fetch(records: Iterable[Record]) -> list[PendingMedia]:
    """The attachments of ``records`` that name a Graph API media id (one per media)."""
    found: dict[str, PendingMedia] = {}
    for record in records:
        for att in record.attachments:
            if not att.media_id:
                continue
            item = PendingMedia(
                att.sha256, att.media_id, att.mime_type, record.id, conversation=record.conversation
            )
            found.setdefault(item.doc_name, item)
    return list(found.values())


class MediaCapture:
    """Fetches media into the archive and keeps the durable pending list."""

    def __init__(
        self, archive: Archive, fetcher: MediaFetcher, settings: MediaSettings | None = None
    ) -> None:
        self.archive = archive
        self.fetcher = fetcher
        self.settings = settings or MediaSettings()
        self._docs = DocStore(archive.store, PendingMedia)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- one attempt --------------------------------------------------------------------------
    async def fetch(self, item: PendingMedia) -> tuple[str, int] | None:
        """Fetch and store one media item; returns ``(sha256, size)``, or None if already stored.

        Raises :class:`WhatsAppSendError` (Graph API refused), :class:`MediaMismatch` (bytes do
        not match the announced hash) or an archive error.
        """
        if item.sha256 and await self.archive.has_media(item.sha256):
            return None
        info = await self.fetcher.media_info(item.media_id)
        mime_type = item.mime_type or info.mime_type or "application/octet-stream"
        chunks = self.fetcher.stream_media(info.url)
        try:
            sha, size = await self.archive.put_media_stream(
                chunks, expected_sha256=item.sha256, mime_type=mime_type
            )
        finally:
            await chunks.aclose()
        if item.sha256 is None:
            # The webhook named no hash: record which bytes the media id turned out to be.
            attachment = Attachment(
                sha, mime_type, size, blob=media_blob_name(sha), media_id=item.media_id
            )
            record = media_fetched_record(
                media_id=item.media_id,
                attachment=attachment,
                record_id=item.record_id,
                conversation=item.conversation,
            )
            await self.archive.put(record, event_key("whatsapp", "media", item.media_id, sha))
        return sha, size

    # -- at webhook time ----------------------------------------------------------------------
    async def capture(self, records: Sequence[Record]) -> None:
        """Fetch the media of freshly archived ``records`` within the quick budget.

        What is not stored by then gets a durable pending document (written before this
        returns, so before the webhook's 200) and is left to the worker. Raises an archive
        error if a pending document cannot be written (the webhook then answers 5xx).
        """
        items = media_to_fetch(records)
        if not items:
            return
        errors = await asyncio.gather(*(self._quick(item) for item in items))
        left = [(item, error) for item, error in zip(items, errors, strict=True) if error]
        if not left:
            return
        now = now_rfc3339()
        for item, error in left:
            pending = replace(
                item, created_at=now, attempts=1, next_attempt_at=now, last_error=error
            )
            await self.create_pending(pending)
        self._wake.set()

    async def _quick(self, item: PendingMedia) -> str | None:
        """One attempt within the quick budget: None when stored, else why not."""
        if self.settings.quick_budget <= 0:
            return "not attempted before the acknowledgement"
        try:
            async with asyncio.timeout(self.settings.quick_budget):
                await self.fetch(item)
        except TimeoutError:
            return "not fetched within the quick budget"
        except (WhatsAppSendError, MediaMismatch, ArchiveError, OSError) as exc:
            return _describe(exc)
        return None

    async def create_pending(self, item: PendingMedia) -> None:
        """Keep ``item`` pending (unless it already is: a redelivery, or the same media in
        another message)."""
        await self._docs.create(item.doc_name, item)

    # -- the worker -----------------------------------------------------------------------------
    def start(self) -> None:
        """Run the worker in the background (resumes every pending item at start-up)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="wabridge-media-worker")

    async def stop(self) -> None:
        """Stop the worker (a pending item in flight is simply attempted again later)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        # A cancellation can be lost inside ``asyncio.wait_for`` on Python 3.11 (e.g. in a
        # storage SDK call): repeat it until the task has really ended.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.process_due()
            except ArchiveError as exc:
                log.warning("media worker: archive unavailable: %s", exc)
            except Exception:  # noqa: BLE001 - the worker must survive anything
                log.exception("media worker: unexpected error")
            self._wake.clear()
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_interval):
                    await self._wake.wait()

    async def list_pending(self) -> list[PendingMedia]:
        """Every pending item in the archive's state."""
        return await list_pending(self.archive.store)

    async def process_due(self, *, now: datetime | None = None) -> int:
        """One pass over the pending list: attempt every item that is due. Returns how many
        were stored."""
        stored = 0
        for name in await self._docs.names(PENDING_PREFIX):
            if await self._attempt(name, now or datetime.now(UTC)):
                stored += 1
        return stored

    async def _attempt(self, name: str, now: datetime) -> bool:
        keeper = LeaseKeeper(
            self._docs, uuid.uuid4().hex, self.settings.lease, clock=lambda: now.timestamp()
        )
        try:
            item = await keeper.take(name, eligible=lambda i: i.due(now), attempts=1)
        except UnreadableDoc:
            log.warning("media worker: unreadable pending document %s", name)
            return False
        if item is None:
            return False  # not due, another instance holds it, or gone
        try:
            await self.fetch(item)
        except asyncio.CancelledError:
            # Shutting down mid-fetch: release the lease so that the next start resumes at once.
            with contextlib.suppress(Exception):
                await asyncio.shield(keeper.release(name))
            raise
        except (WhatsAppSendError, MediaMismatch, ArchiveError, OSError) as exc:
            await self._failed(name, item, keeper.owner, exc)
            return False
        await self._docs.delete_if(name, lambda current: current.lease.owner == keeper.owner)
        log.info("media %s stored after %d attempt(s)", item.sha256, item.attempts + 1)
        return True

    async def _failed(self, name: str, item: PendingMedia, owner: str, exc: Exception) -> None:
        attempts = item.attempts + 1
        backoff = self.settings.retry_base * 2 ** min(attempts - 1, 20)
        delay = min(self.settings.retry_cap, backoff)
        error = _describe(exc)
        log.warning(
            "media %s (media id %s): attempt %d failed: %s; next in %.0f s",
            item.sha256,
            item.media_id,
            attempts,
            error,
            delay,
        )

        def record_failure(current: PendingMedia | None) -> PendingMedia | None:
            if current is None or current.lease.owner != owner:
                return None
            return replace(
                current,
                attempts=attempts,
                lease=Lease(),
                last_error=error,
                next_attempt_at=rfc3339(datetime.now(UTC) + timedelta(seconds=delay)),
                mismatches=current.mismatches + isinstance(exc, MediaMismatch),
            )

        with contextlib.suppress(ArchiveError):
            await self._docs.update(name, record_failure, attempts=3)


async def list_pending(store: ArchiveStore) -> list[PendingMedia]:
    """Every media item still pending in ``store`` (for ``wabridge archive pending``)."""
    docs = DocStore(store, PendingMedia)
    items = []
    for name in await docs.names(PENDING_PREFIX):
        with contextlib.suppress(UnreadableDoc):
            item = await docs.get(name)
            if item is not None:
                items.append(item)
    return items


def _describe(exc: BaseException) -> str:
    if isinstance(exc, WhatsAppSendError):
        status = f"HTTP {exc.http_status}: " if exc.http_status else ""
        return f"{status}{exc.message}"
    if isinstance(exc, MediaMismatch):
        return f"hash mismatch: {exc}"
    return f"{type(exc).__name__}: {exc}"
