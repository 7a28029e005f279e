"""Parked records: what could not be shown in Teams yet, kept per contact and retried.

A record that cannot be posted now (Bot Connector down, no inbox yet, a status before its
card, a thread being started elsewhere) is parked in its contact's durable queue
(:class:`bot.relay.state.ParkedQueue`), with everything after it for that contact, so that a
contact's records keep their order. :meth:`ParkedQueues.drain_due` retries each queue that is
due, under the queue's lease, with backoff across restarts; an item that keeps failing for
another reason than Teams being unavailable is set aside after ``MAX_FAILED_ATTEMPTS`` with an
``error`` record, a status whose card never appears after ``MAX_EARLY_ATTEMPTS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from bot.ports import TeamsUnavailable
from bot.relay.state import PENDING_PREFIX, ParkedItem, ParkedQueue, pending_doc
from bridge.archive import Archive
from bridge.convert.internal import relay_failed_record
from bridge.errors import ArchiveUnavailable
from bridge.ids import event_key
from bridge.record import Record
from bridge.state import DocStore, LeaseKeeper, LeaseLost

log = logging.getLogger("wabridge.relay")

#: Retries of an item whose Teams counterpart is not there yet (a status before its card).
MAX_EARLY_ATTEMPTS = 3
#: Retries of an item that keeps failing for another reason before it is set aside.
MAX_FAILED_ATTEMPTS = 20
#: Queues drained at once.
QUEUES_AT_ONCE = 8


class RetryLater(Exception):
    """Teams cannot take this item now (no inbox yet, a thread being started elsewhere)."""


class NotYet(Exception):
    """The item refers to something not posted yet (a status before its card)."""


def unavailable(exc: BaseException) -> bool:
    """Teams (or the archive) cannot be reached now: retry without limit, as opposed to a
    refusal of this item."""
    return isinstance(exc, RetryLater | TeamsUnavailable | ArchiveUnavailable)


class ParkedQueues:
    """The parked records of every contact, and their retries."""

    def __init__(
        self,
        archive: Archive,
        show: Callable[[Record], Awaitable[None]],
        *,
        instance: str,
        lease_seconds: float = 60.0,
    ) -> None:
        self._archive = archive
        self._show = show
        self.instance = instance
        self._docs = DocStore(archive.store, ParkedQueue)
        self._lease_seconds = lease_seconds
        #: The contacts (document names) with a queue, as this instance knows them.
        self.contacts: set[str] = set()
        #: Held while a contact's queue is checked and extended, or emptied and removed.
        self._locks: dict[str, asyncio.Lock] = {}
        self._not_before: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self.stopping = False

    def lock(self, conversation: str) -> asyncio.Lock:
        return self._locks.setdefault(pending_doc(conversation), asyncio.Lock())

    def is_parked(self, conversation: str) -> bool:
        return pending_doc(conversation) in self.contacts

    async def refresh(self) -> None:
        """Learn the queues from the archive (those another instance, or this one before a
        restart, parked): when this instance starts following the feed, and before a drain."""
        self.contacts |= set(await self._docs.names(PENDING_PREFIX))

    def forget_backoff(self) -> None:
        """Everything waiting may go at once (e.g. an inbox was just bound)."""
        self._not_before.clear()
        self._failures.clear()

    async def park(self, conversation: str, items: Sequence[tuple[str, Record]]) -> None:
        """Append ``items`` (name, record) to the contact's queue (call under its lock)."""
        fresh_items = tuple(ParkedItem(r.id, name) for name, r in items)

        def append(queue: ParkedQueue | None) -> ParkedQueue | None:
            queue = queue or ParkedQueue(conversation)
            known = {i.id for i in queue.items}
            fresh = tuple(i for i in fresh_items if i.id not in known)
            return replace(queue, items=queue.items + fresh) if fresh else None

        await self._docs.update(pending_doc(conversation), append)
        self.contacts.add(pending_doc(conversation))

    async def drain_due(self) -> None:
        """Retry every contact's parked records that are due (whichever instance parked them:
        each queue is drained under its own lease)."""
        await self.refresh()
        now = time.monotonic()
        due = [n for n in sorted(self.contacts) if self._not_before.get(n, 0) <= now]
        slots = asyncio.Semaphore(QUEUES_AT_ONCE)

        async def one(name: str) -> None:
            async with slots:
                await self._drain(name)

        await asyncio.gather(*(one(n) for n in due))

    async def _drain(self, name: str) -> None:
        owner = f"{self.instance}/{uuid.uuid4().hex[:12]}"
        keeper = LeaseKeeper(self._docs, owner, self._lease_seconds)
        if await keeper.take(name) is None:
            return
        try:
            await self._drain_held(name, keeper)
        except LeaseLost as exc:
            log.warning("parked queue taken over by another worker: %s", exc)
        finally:
            await keeper.release(name)

    async def _drain_held(self, name: str, keeper: LeaseKeeper) -> None:
        while not self.stopping:
            queue = await self._docs.get(name)
            if queue is None or not keeper.holds(queue):
                if queue is None:
                    self.contacts.discard(name)
                return
            if not queue.items:
                async with self._locks.setdefault(name, asyncio.Lock()):
                    if await self._docs.delete_if(name, lambda q: not q.items):
                        self.contacts.discard(name)
                return
            if not await self._attempt(name, queue.items[0], queue.conversation, keeper):
                return

    async def _attempt(
        self, name: str, item: ParkedItem, conversation: str, keeper: LeaseKeeper
    ) -> bool:
        """Try the queue's first item; True to go on with the next one."""
        try:
            await self._show(await self._record(item))
        except NotYet:
            if item.attempts + 1 < MAX_EARLY_ATTEMPTS:
                await self._bump(name, item.id, keeper)
                self._backoff(name, 1.0)
                return False
            log.info("status for a message without a Teams card: %s", item.id)
        except Exception as exc:  # noqa: BLE001 - every failure is either retried or set aside
            failures = self._failures.get(name, 0) + 1
            self._failures[name] = failures
            if unavailable(exc):
                log.warning("relay to Teams deferred (%s); retrying", exc or type(exc).__name__)
                self._backoff(name, min(0.5 * 2**failures, 60.0))
                return False
            if item.attempts + 1 < MAX_FAILED_ATTEMPTS:
                log.warning("relay to Teams failed (%s); retrying", exc)
                await self._bump(name, item.id, keeper)
                self._backoff(name, min(0.5 * 2**failures, 60.0))
                return False
            log.exception("relay of record %s to Teams failed; set aside", item.id)
            await self._set_aside(item.id, exc, conversation)
        self._failures.pop(name, None)
        await keeper.renew(
            name, lambda q: replace(q, items=tuple(i for i in q.items if i.id != item.id))
        )
        return True

    async def _record(self, item: ParkedItem) -> Record:
        if item.record is not None:  # parked whole by an earlier version
            return Record.from_dict(item.record)
        return await self._archive.read_record(item.name or "")

    def _backoff(self, name: str, seconds: float) -> None:
        self._not_before[name] = time.monotonic() + seconds

    async def _bump(self, name: str, item_id: str, keeper: LeaseKeeper) -> None:
        def bump(queue: ParkedQueue) -> ParkedQueue:
            items = tuple(
                replace(i, attempts=i.attempts + 1) if i.id == item_id else i for i in queue.items
            )
            return replace(queue, items=items)

        await keeper.renew(name, bump)

    async def _set_aside(self, record_id: str, exc: Exception, conversation: str | None) -> None:
        failure = relay_failed_record(record_id, conversation or None, exc)
        try:
            await self._archive.put(failure, event_key("teams", "relay-failed", record_id))
        except ArchiveUnavailable:
            log.error("could not archive the relay failure of %s", record_id)
