"""Media capture: fetch WhatsApp media at once, store it once, retry durably until it is in.

Meta's media ids expire after 7 days, so the bytes are fetched as soon as a record names them:
first within a short budget before the webhook's 200, and otherwise from a durable pending list
(one document per media under ``state/media-pending/``) that a worker retries with backoff and
that survives restarts. Bytes are streamed from the Graph API into the archive, checked against
the sha256 the webhook announced, and stored once under it (``media/ab/<sha256>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.ports import WhatsAppSendError
from bot.settings import MediaSettings
from bot.whatsapp.client import CloudApiClient
from bridge.archive import Archive, MediaMismatch
from bridge.errors import ArchiveError, ConcurrentUpdate
from bridge.ids import STATE_PREFIX, event_key, media_blob_name, state_blob_name
from bridge.record import Attachment, Record, now_rfc3339, parse_rfc3339, rfc3339
from bridge.store.base import ArchiveStore

log = logging.getLogger("wabridge.media")

PENDING_DIR = "media-pending"
PENDING_PREFIX = f"{STATE_PREFIX}{PENDING_DIR}/"


@dataclass(frozen=True)
class PendingMedia:
    """One media item still to fetch, as kept in ``state/media-pending/<sha256>.json``."""

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
    lease_until: str | None = None
    mismatches: int = 0

    @property
    def doc_name(self) -> str:
        return pending_doc_name(self.sha256, self.media_id)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> PendingMedia:
        raw = json.loads(data)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})


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


@dataclass
class MediaCapture:
    """Fetches media into the archive and keeps the durable pending list."""

    archive: Archive
    client: CloudApiClient
    settings: MediaSettings = field(default_factory=MediaSettings)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False

    # -- one attempt --------------------------------------------------------------------------
    async def fetch(self, item: PendingMedia) -> tuple[str, int] | None:
        """Fetch and store one media item; returns ``(sha256, size)``, or None if already stored.

        Raises :class:`WhatsAppSendError` (Graph API refused), :class:`MediaMismatch` (bytes do
        not match the announced hash) or an archive error.
        """
        if item.sha256 and await self.archive.has_media(item.sha256):
            return None
        info = await self.client.media_info(item.media_id)
        mime_type = item.mime_type or info.mime_type or "application/octet-stream"
        chunks = self.client.stream_media(info.url)
        try:
            sha, size = await self.archive.put_media_stream(
                chunks, expected_sha256=item.sha256, mime_type=mime_type
            )
        finally:
            await chunks.aclose()
        if item.sha256 is None:
            await self._link_unannounced(item, sha, size, mime_type)
        return sha, size

    async def _link_unannounced(self, item: PendingMedia, sha: str, size: int, mime: str) -> None:
        """The webhook named no hash: record which bytes the media id turned out to be."""
        record = Record(
            conversation=item.conversation,
            platform="whatsapp",
            direction="internal",
            kind="system",
            type="media",
            source_id=None,
            sent_at=now_rfc3339(),
            captured_at="",
            sender=None,
            text=f"media {item.media_id} fetched (the webhook gave no hash)",
            attachments=(
                Attachment(sha, mime, size, blob=media_blob_name(sha), media_id=item.media_id),
            ),
            relates_to=item.record_id,
        )
        await self.archive.put(record, event_key("whatsapp", "media", item.media_id, sha))

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
            await self._create_pending(
                replace(
                    item,
                    created_at=now,
                    attempts=1,
                    next_attempt_at=now,
                    last_error=error,
                )
            )
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

    async def _create_pending(self, item: PendingMedia) -> None:
        try:
            await self.archive.store.put_doc(item.doc_name, item.to_json(), etag=None)
        except ConcurrentUpdate:
            pass  # already pending (a redelivery, or the same media in another message)

    # -- the worker -----------------------------------------------------------------------------
    def start(self) -> None:
        """Run the worker in the background (resumes every pending item at start-up)."""
        if self._task is None or self._task.done():
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
        self._stopping = False
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
        async for info in self.archive.store.list(PENDING_PREFIX):
            if await self._attempt(info.name, now or datetime.now(UTC)):
                stored += 1
        return stored

    async def _attempt(self, name: str, now: datetime) -> bool:
        store = self.archive.store
        doc = await store.get_doc(name)
        if doc is None:
            return False
        try:
            item = PendingMedia.from_json(doc.data)
        except (ValueError, TypeError):
            log.warning("media worker: unreadable pending document %s", name)
            return False
        if item.next_attempt_at and parse_rfc3339(item.next_attempt_at) > now:
            return False
        if item.lease_until and parse_rfc3339(item.lease_until) > now:
            return False
        lease = timedelta(seconds=self.settings.lease)
        leased = replace(item, lease_until=rfc3339(now + lease))
        try:
            etag = await store.put_doc(name, leased.to_json(), etag=doc.etag)
        except ConcurrentUpdate:
            return False  # another instance took it
        try:
            await self.fetch(item)
        except asyncio.CancelledError:
            # Shutting down mid-fetch: release the lease so that the next start resumes at once.
            with contextlib.suppress(Exception):
                await asyncio.shield(store.put_doc(name, item.to_json(), etag=etag))
            raise
        except (WhatsAppSendError, MediaMismatch, ArchiveError, OSError) as exc:
            attempts = item.attempts + 1
            backoff = self.settings.retry_base * 2 ** min(attempts - 1, 20)
            delay = min(self.settings.retry_cap, backoff)
            failed = replace(
                item,
                attempts=attempts,
                lease_until=None,
                last_error=_describe(exc),
                next_attempt_at=rfc3339(datetime.now(UTC) + timedelta(seconds=delay)),
                mismatches=item.mismatches + isinstance(exc, MediaMismatch),
            )
            log.warning(
                "media %s (media id %s): attempt %d failed: %s; next in %.0f s",
                item.sha256,
                item.media_id,
                attempts,
                failed.last_error,
                delay,
            )
            with contextlib.suppress(ConcurrentUpdate):
                await store.put_doc(name, failed.to_json(), etag=etag)
            return False
        await store.delete_doc(name, etag=etag)
        log.info("media %s stored after %d attempt(s)", item.sha256, item.attempts + 1)
        return True


async def list_pending(store: ArchiveStore) -> list[PendingMedia]:
    """Every media item still pending in ``store`` (for ``wabridge archive pending``)."""
    items = []
    async for info in store.list(PENDING_PREFIX):
        doc = await store.get_doc(info.name)
        if doc is not None:
            with contextlib.suppress(ValueError, TypeError):
                items.append(PendingMedia.from_json(doc.data))
    return items


def _describe(exc: BaseException) -> str:
    if isinstance(exc, WhatsAppSendError):
        status = f"HTTP {exc.http_status}: " if exc.http_status else ""
        return f"{status}{exc.message}"
    if isinstance(exc, MediaMismatch):
        return f"hash mismatch: {exc}"
    return f"{type(exc).__name__}: {exc}"
