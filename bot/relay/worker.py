"""The relay worker: archived WhatsApp records into Teams, at once, in order, exactly once.

Nothing is queued on the webhook's path: a delivery's records are in the archive and its ledger
before Meta gets its 200. Then the webhook hands them to this worker in-process
(:meth:`RelayWorker.offer`): it keeps the records (so that none is read back) and looks at the
ledger at once instead of at its next poll. The ledger stays the one way in: the worker follows
it (:class:`bot.relay.feed.LedgerFeed`), under the feed's lease, so that only one instance posts
and every record is posted once, in ledger order per contact, whichever instance took it in; an
instance that took a delivery without holding the feed only wakes nobody, and the holder finds
the records at its next poll (or another instance's hand-off). After a crash the cursor says
where to resume.

Each record goes to its contact's lane (:mod:`bot.relay.lanes`) and is posted
(:mod:`bot.relay.posting`) or, if it cannot be now, parked with everything after it for that
contact (:mod:`bot.relay.parked`). The cursor moves past an entry once it is posted or parked,
and past no entry before an earlier one of its segment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Sequence

from bot.relay.feed import WHATSAPP_RECORDS, FeedBatch, FeedEntry, LedgerFeed
from bot.relay.inbox import InboxCache
from bot.relay.lanes import ContactLanes, LaneItem
from bot.relay.parked import ParkedQueues
from bot.relay.posting import InboundPoster, wants_relay
from bot.relay.threads import ThreadMap
from bridge.archive import Archive, PutResult
from bridge.errors import ArchiveUnavailable, ConcurrentUpdate
from bridge.record import Record
from bridge.state import LeaseLost

log = logging.getLogger("wabridge.relay")

#: Records this instance wrote and remembers (so that the feed need not read them back).
REMEMBERED_RECORDS = 4096
#: At shutdown, how long the posts under way may take to finish before they are cancelled.
STOP_GRACE_SECONDS = 5.0
#: Records handed to the lanes and not handled yet, beyond which the feed is not read further.
MAX_IN_FLIGHT = 2000


class FeedProgress:
    """Which read entries are handled, and so how far the cursor may move in each segment."""

    def __init__(self) -> None:
        self._chunks: dict[str, deque[tuple[int, set[str]]]] = {}
        self._owner: dict[str, set[str]] = {}

    def add(self, segment: str, end: int, names: Sequence[str]) -> None:
        pending = set(names)
        self._chunks.setdefault(segment, deque()).append((end, pending))
        for name in names:
            self._owner[name] = pending

    def done(self, name: str) -> None:
        pending = self._owner.pop(name, None)
        if pending is not None:
            pending.discard(name)

    def committable(self) -> dict[str, int]:
        """Per segment, the end of the handled prefix of what was read (taken out)."""
        out: dict[str, int] = {}
        for segment, chunks in self._chunks.items():
            while chunks and not chunks[0][1]:
                out[segment] = chunks.popleft()[0]
        return out

    def clear(self) -> None:
        self._chunks.clear()
        self._owner.clear()


class RelayWorker:
    """The inbound listener and the background worker of one service instance."""

    def __init__(
        self,
        archive: Archive,
        feed: LedgerFeed,
        parked: ParkedQueues,
        poster: InboundPoster,
        inbox: InboxCache,
        threads: ThreadMap,
        *,
        poll_interval: float = 2.0,
        at_once: int = 16,
    ) -> None:
        self._archive = archive
        self._feed = feed
        self._parked = parked
        self._poster = poster
        self._inbox = inbox
        self._threads = threads
        self._poll = poll_interval
        self.instance = feed.owner
        #: name -> the record if Teams should show it, None if not: what this instance wrote.
        self._written: OrderedDict[str, Record | None] = OrderedDict()
        archive.observers.append(self._remember)
        self._lanes = ContactLanes(self._show, at_once=at_once)
        self._progress = FeedProgress()
        self._ends: dict[str, int] = {}
        self._commit_task: asyncio.Task[None] | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._archiving: set[asyncio.Task[None]] = set()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._holding = False
        self._pass = asyncio.Lock()

    # -- the hand-off ---------------------------------------------------------------------------
    async def offer(self, records: Sequence[Record]) -> None:
        """The webhook's listener: these records are durable in the ledger; look now."""
        if any(wants_relay(r) for r in records):
            self._kick.set()

    def _remember(self, result: PutResult) -> None:
        """Archive observer: keep what was just written, so that the feed does not read it."""
        if not result.name.startswith(WHATSAPP_RECORDS):
            return
        self._written[result.name] = result.record if wants_relay(result.record) else None
        self._written.move_to_end(result.name)
        while len(self._written) > REMEMBERED_RECORDS:
            self._written.popitem(last=False)

    def wake(self, *, now: bool = False) -> None:
        """Look at the ledger and the parked records again; ``now`` also forgets the backoff
        of waiting contacts (e.g. once an inbox is bound, everything that waited can go)."""
        if now:
            self._parked.forget_backoff()
        self._kick.set()

    # -- running --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._parked.stopping = False
            self._task = asyncio.create_task(self._run(), name="wabridge-relay-worker")

    async def stop(self) -> None:
        """Stop; let the posts under way finish (so that each is recorded and the cursor moved
        past it, and the next holder does not post it again), then give the lease up."""
        task, self._task = self._task, None
        self._stopping = self._parked.stopping = True
        self._kick.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_GRACE_SECONDS
        if task is not None:
            await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
            await _cancel(task)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.1, deadline - loop.time())):
                await self._settled()
                # A drain of the parked queues ends after its current attempt (``stopping``)
                # and gives each queue's lease up: cancelled, it could leave one held.
                if self._drain_task is not None:
                    await asyncio.wait({self._drain_task})
        await self._lanes.cancel()
        for archiving in list(self._archiving):
            await _cancel(archiving)
        for extra in (self._drain_task, self._commit_task):
            if extra is not None:
                await _cancel(extra)
        with contextlib.suppress(Exception):
            await self._commit()
        with contextlib.suppress(ConcurrentUpdate, ArchiveUnavailable):
            await self._feed.release()
        await self._threads.release_claims()

    async def _settled(self) -> None:
        """Wait until the lanes are empty and every post's record is archived."""
        while True:
            await self._lanes.idle()
            if not self._archiving:
                return
            await asyncio.gather(*self._archiving, return_exceptions=True)

    async def run_once(self) -> None:
        """One whole pass: retry the parked records that are due, post what the ledger gained,
        and wait until that is handled and the cursor moved."""
        if await self._inbox.get() is None:
            return
        if self._drain_task is not None:
            await asyncio.gather(self._drain_task, return_exceptions=True)
        await self._parked.drain_due()
        if not await self._follow():
            return
        await self._settled()
        await self._commit()

    async def _run(self) -> None:
        polled = True
        while not self._stopping:
            self._kick.clear()
            try:
                if await self._follow():
                    self._lanes.restart()
                    if polled or self._parked.contacts:
                        self._drain_soon()
            except asyncio.CancelledError:
                raise
            except ArchiveUnavailable as exc:
                log.warning("relay waiting for the archive: %s", exc)
            except Exception:  # keep the worker alive; the records stay in the ledger
                log.exception("relay pass failed")
            if self._stopping:
                return
            polled = False
            try:
                async with asyncio.timeout(self._poll):
                    await self._kick.wait()
            except TimeoutError:
                polled = True

    # -- following the ledger -------------------------------------------------------------------
    async def _follow(self) -> bool:
        """Hand what the ledger gained to the lanes; False while no inbox is bound (nothing
        can be shown then: the records wait in the ledger)."""
        async with self._pass:
            if await self._inbox.get() is None:
                return False
            while not self._stopping:
                await self._lanes.below(MAX_IN_FLIGHT)
                if self._lanes.busy:
                    await self._feed.keep()
                batch = await self._feed.read()
                if not self._feed.held:
                    self._lost()
                if batch is None:
                    return True
                if not self._holding:
                    self._holding = True
                    await self._parked.refresh()
                await self._dispatch(batch)
                if not batch.more:
                    return True
            return True

    async def _dispatch(self, batch: FeedBatch) -> None:
        records = await self._records_of(batch.entries)
        by_segment: dict[str, list[FeedEntry]] = {}
        for entry in batch.entries:
            if entry.name in records:
                by_segment.setdefault(entry.segment, []).append(entry)
        for segment, end in batch.ends.items():
            self._progress.add(segment, end, [e.name for e in by_segment.get(segment, ())])
        for entry in batch.entries:
            record = records.get(entry.name)
            if record is not None:
                self._lanes.submit(
                    record.conversation or "",
                    LaneItem(record.id, entry.name, record, self._done_callback(entry.name)),
                )
        self._commit_soon()

    async def _records_of(self, entries: Sequence[FeedEntry]) -> dict[str, Record]:
        """The records Teams should show: remembered, or read back if another instance (or this
        one before a restart) wrote them."""
        found: dict[str, Record] = {}
        unknown: list[str] = []
        for entry in entries:
            if entry.name in self._written:
                record = self._written.pop(entry.name)
                if record is not None:
                    found[entry.name] = record
            else:
                unknown.append(entry.name)
        slots = asyncio.Semaphore(16)

        async def read(name: str) -> None:
            async with slots:
                record = await self._archive.read_record(name)
            if wants_relay(record):
                found[name] = record

        await asyncio.gather(*(read(n) for n in unknown))
        return found

    # -- one contact's records ------------------------------------------------------------------
    async def _show(self, conversation: str, items: list[LaneItem]) -> int:
        """Post ``items`` in order; from the first that cannot be posted on, park them. Returns
        how many are handled (posted or parked)."""
        async with self._parked.lock(conversation):
            if self._parked.is_parked(conversation):
                await self._parked.park(conversation, [(i.name, i.record) for i in items])
                _all_done(items)
                return len(items)
        for index, item in enumerate(items):
            try:
                post = await self._poster.post(item.record)
            except Exception as exc:  # noqa: BLE001 - parked and retried by the drain
                log.info(
                    "relay of %s to Teams parked (%s)", item.record_id, exc or type(exc).__name__
                )
                rest = items[index:]
                try:
                    async with self._parked.lock(conversation):
                        await self._parked.park(conversation, [(i.name, i.record) for i in rest])
                except Exception:  # noqa: BLE001 - not handled: they stay in the lane
                    log.exception("could not park %d record(s) of %s", len(rest), conversation)
                    return index
                _all_done(rest)
                self._drain_soon()
                return len(items)
            if post is None:
                item.done()
            else:
                # The next record of the contact need not wait for this post's record (nor for
                # the ledger's group commit): it is archived meanwhile, and the entry counts as
                # handled, for the cursor, once it is.
                task = asyncio.create_task(self._archive_post(post, item), name="wabridge-post")
                self._archiving.add(task)
                task.add_done_callback(self._archiving.discard)
        return len(items)

    async def _archive_post(self, post: Record, item: LaneItem) -> None:
        """Archive the record of a post, retrying until it is durable (it is keyed: once)."""
        delay = 0.5
        while True:
            try:
                await self._poster.archive_post(post)
            except ArchiveUnavailable as exc:
                if self._stopping:
                    return  # not handled: the cursor stays before it, the next holder redoes it
                log.warning("the record of a Teams post waits for the archive: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            item.done()
            return

    def _done_callback(self, name: str):
        def done() -> None:
            self._progress.done(name)
            self._commit_soon()

        return done

    # -- the cursor -----------------------------------------------------------------------------
    def _commit_soon(self) -> None:
        if self._commit_task is None or self._commit_task.done():
            self._commit_task = asyncio.create_task(self._commit(), name="wabridge-relay-commit")

    async def _commit(self) -> None:
        """Move the cursor past what is handled (one commit at a time; it gathers whatever
        was handled while the previous one was being written)."""
        while True:
            for segment, end in self._progress.committable().items():
                self._ends[segment] = max(end, self._ends.get(segment, 0))
            if not self._ends or not self._feed.held:
                return
            ends = dict(self._ends)
            try:
                await self._feed.commit(ends)
            except LeaseLost as exc:
                log.warning("relay feed taken over by another instance: %s", exc)
                self._lost()
                return
            except (ArchiveUnavailable, ConcurrentUpdate) as exc:
                log.warning("relay cursor not moved yet: %s", exc)
                return
            for segment, end in ends.items():
                if self._ends.get(segment) == end:
                    del self._ends[segment]

    def _lost(self) -> None:
        if self._holding:
            self._holding = False
            self._progress.clear()
            self._ends.clear()

    def _drain_soon(self) -> None:
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = asyncio.create_task(self._drain(), name="wabridge-relay-drain")

    async def _drain(self) -> None:
        try:
            await self._parked.drain_due()
        except ArchiveUnavailable as exc:
            log.warning("parked records wait for the archive: %s", exc)
        except Exception:  # noqa: BLE001 - retried at the next pass
            log.exception("draining parked records failed")


def _all_done(items: Sequence[LaneItem]) -> None:
    for item in items:
        item.done()


async def _cancel(task: asyncio.Task) -> None:
    # A cancellation can be lost inside ``asyncio.wait_for`` on Python 3.11 (e.g. in a storage
    # SDK call): repeat it until the task has really ended.
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
