"""The relay's parts one at a time: lanes, feed, parked queues, threads, posting, the worker.

Run on a local archive with an in-memory Teams poster (the end-to-end tests drive the real Bot
Connector adapter against the loopback fake).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from bot.loopback.polling import eventually
from bot.ports import TeamsEndpoint, TeamsUnavailable
from bot.relay.feed import LedgerFeed
from bot.relay.inbox import InboxCache
from bot.relay.lanes import ContactLanes, LaneItem
from bot.relay.media_links import MediaLinks
from bot.relay.parked import MAX_EARLY_ATTEMPTS, NotYet, ParkedQueues, RetryLater
from bot.relay.posting import InboundPoster
from bot.relay.state import INBOX, InboxBinding, ParkedQueue, pending_doc
from bot.relay.threads import ThreadMap
from bot.relay.worker import FeedProgress, RelayWorker
from bridge.archive import Archive
from bridge.ids import make_conversation_id
from bridge.record import Record
from bridge.state import DocStore
from bridge.store.local import LocalStore
from tests.support.records import inbound_text

PNID = "106540352242922"
BINDING = InboxBinding("19:inbox@thread.tacv2", "http://connector.invalid", bot_id="28:bot")


class Poster:
    """A Teams poster in memory; ``down`` makes every post fail as an outage would."""

    def __init__(self) -> None:
        self.threads: dict[str, list[dict[str, Any]]] = {}
        self.updates: list[tuple[str, str, dict]] = []
        self.down = False
        self.refuse: set[str] = set()
        self._ids = itertools.count(1)

    def _check(self, activity: dict[str, Any]) -> None:
        if self.down:
            raise TeamsUnavailable("connector down")
        if any(word in (activity.get("text") or "") for word in self.refuse):
            raise ValueError("refused by Teams")

    async def post_new_thread(self, endpoint: TeamsEndpoint, channel_id: str, activity):
        self._check(activity)
        await asyncio.sleep(0)
        root = str(next(self._ids))
        thread = f"{channel_id};messageid={root}"
        self.threads[thread] = [activity]
        return thread, root

    async def post_reply(self, endpoint: TeamsEndpoint, thread_id: str, activity):
        self._check(activity)
        await asyncio.sleep(0)
        self.threads[thread_id].append(activity)
        return str(next(self._ids))

    async def update(self, endpoint: TeamsEndpoint, thread_id: str, activity_id: str, activity):
        self._check(activity)
        self.updates.append((thread_id, activity_id, activity))

    def texts(self) -> dict[str, list[str]]:
        return {t: [a.get("text", "") for a in posts] for t, posts in self.threads.items()}


def inbound(wa_id: str, text: str, n: int) -> Record:
    return inbound_text(n, contact=wa_id, text=text)


class Relay:
    """The worker and its parts, wired as ``bot/app.py`` wires them."""

    def __init__(self, archive: Archive, poster: Poster, instance: str = "i1") -> None:
        self.archive, self.poster = archive, poster
        self.inbox = InboxCache(archive.store, ttl=0)
        self.threads = ThreadMap(archive.store, poster, instance=instance)
        self.posting = InboundPoster(
            archive, poster, self.threads, self.inbox, MediaLinks(archive.store, "http://x"), dict
        )
        self.parked = ParkedQueues(archive, self.posting.show, instance=instance)
        self.feed = LedgerFeed(archive.store, instance)
        self.worker = RelayWorker(
            archive,
            self.feed,
            self.parked,
            self.posting,
            self.inbox,
            self.threads,
            poll_interval=60.0,
        )


@pytest.fixture
async def archive(tmp_path):
    archive = Archive(LocalStore(tmp_path / "archive"))
    await archive.store.ensure_ready()
    yield archive
    await archive.close()


async def bind(archive: Archive) -> None:
    await DocStore(archive.store, InboxBinding).put(INBOX, BINDING)


# -- lanes ---------------------------------------------------------------------------------------


async def test_lanes_keep_each_contacts_order_and_run_contacts_side_by_side():
    seen: list[tuple[str, str]] = []
    running: set[str] = set()
    overlap = []

    async def handle(conversation: str, items: list[LaneItem]) -> int:
        running.add(conversation)
        overlap.append(len(running))
        await asyncio.sleep(0.01)
        seen.append((conversation, items[0].record_id))
        items[0].done()
        running.discard(conversation)
        return 1

    lanes = ContactLanes(handle, at_once=4)
    done: list[str] = []
    for rid in ("03", "01", "02"):
        for conversation in ("a", "b"):
            lanes.submit(conversation, LaneItem(rid, rid, None, lambda r=rid: done.append(r)))
    await lanes.idle()
    assert [r for c, r in seen if c == "a"] == ["01", "02", "03"]
    assert [r for c, r in seen if c == "b"] == ["01", "02", "03"]
    assert max(overlap) == 2 and len(done) == 6 and lanes.busy == 0


async def test_a_lane_that_handles_nothing_keeps_its_records_for_later():
    attempts = []

    async def handle(conversation: str, items: list[LaneItem]) -> int:
        attempts.append(len(items))
        return 0 if len(attempts) == 1 else len(items)

    lanes = ContactLanes(handle)
    lanes.submit("a", LaneItem("01", "n", None))
    await lanes.idle()
    assert lanes.busy == 1
    lanes.restart()
    await lanes.idle()
    assert lanes.busy == 0 and attempts == [1, 1]


def test_the_cursor_moves_only_past_a_handled_prefix():
    progress = FeedProgress()
    progress.add("s1", 100, ["a", "b"])
    progress.add("s1", 200, ["c"])
    progress.add("s2", 50, [])
    assert progress.committable() == {"s2": 50}
    progress.done("c")
    assert progress.committable() == {}
    progress.done("a")
    progress.done("b")
    assert progress.committable() == {"s1": 200}
    progress.done("unknown")  # a name handed out before a lost lease: ignored


# -- the feed --------------------------------------------------------------------------------------


async def test_the_feed_reads_ahead_of_its_cursor_and_resumes_from_it(archive):
    for n in range(3):
        await archive.put(inbound("4915100000001", f"m{n}", n))
    feed = LedgerFeed(archive.store, "i1")
    batch = await feed.read()
    assert [e.record_id for e in batch.entries] == sorted(e.record_id for e in batch.entries)
    assert len(batch.entries) == 3 and await feed.read() is None  # read ahead, not committed
    assert feed.held
    # Another instance (after this one went without committing) reads the same entries again.
    await feed.release()
    again = LedgerFeed(archive.store, "i2")
    second = await again.read()
    assert [e.name for e in second.entries] == [e.name for e in batch.entries]
    await again.commit(second.ends)
    await again.release()
    assert await LedgerFeed(archive.store, "i3").read() is None  # the cursor is past them


async def test_an_instance_taken_over_stops_reading_at_once(archive):
    from dataclasses import replace

    from bot.relay.state import FEED_DOC, FeedCursor
    from bridge.state import Lease

    await archive.put(inbound("4915100000001", "first", 1))
    feed = LedgerFeed(archive.store, "i1")
    await feed.commit((await feed.read()).ends)
    await DocStore(archive.store, FeedCursor).update(
        FEED_DOC, lambda c: replace(c, lease=Lease("other", time.time() + 60))
    )
    await archive.put(inbound("4915100000001", "second", 2))
    assert await feed.read() is None and not feed.held


# -- parked queues ---------------------------------------------------------------------------------


async def test_parked_records_are_retried_in_order_and_the_queue_removed(archive):
    poster = Poster()
    relay = Relay(archive, poster)
    await bind(archive)
    puts = [await archive.put(inbound("4915100000002", f"p{n}", n)) for n in range(3)]
    records, names = [p.record for p in puts], [p.name for p in puts]
    conversation = records[0].conversation
    async with relay.parked.lock(conversation):
        await relay.parked.park(conversation, list(zip(names, records, strict=True)))
        await relay.parked.park(conversation, list(zip(names, records, strict=True))[:1])
    queue = await DocStore(archive.store, ParkedQueue).get(pending_doc(conversation))
    assert [i.id for i in queue.items] == [r.id for r in records]  # no item twice

    poster.down = True
    await relay.parked.drain_due()
    assert poster.threads == {}  # Teams down: nothing lost, nothing tried over and over
    queue = await DocStore(archive.store, ParkedQueue).get(pending_doc(conversation))
    assert len(queue.items) == 3 and all(i.attempts == 0 for i in queue.items)

    poster.down = False
    relay.parked.forget_backoff()
    await relay.parked.drain_due()
    (texts,) = poster.texts().values()
    assert [t.rsplit(": ", 1)[-1] for t in texts] == ["p0", "p1", "p2"]
    assert await DocStore(archive.store, ParkedQueue).get(pending_doc(conversation)) is None
    assert relay.parked.contacts == set()


async def test_a_status_before_its_card_is_tried_a_few_times_then_let_go(archive):
    relay = Relay(archive, Poster())
    status = Record(
        conversation=make_conversation_id(PNID, "4915100000003"),
        platform="whatsapp",
        direction="outbound",
        kind="status",
        type=None,
        source_id="wamid.unknown",
        sent_at="2026-11-28T10:00:00.000Z",
        captured_at="",
        sender=None,
        status="delivered",
    )
    put = await archive.put(status)
    name, status = put.name, put.record
    with pytest.raises(NotYet):
        await relay.posting.show(status)
    async with relay.parked.lock(status.conversation):
        await relay.parked.park(status.conversation, [(name, status)])
    for _ in range(MAX_EARLY_ATTEMPTS):
        relay.parked.forget_backoff()
        await relay.parked.drain_due()
    assert relay.parked.contacts == set()
    assert [r async for r in _records(archive) if r.kind == "error"] == []


async def test_a_record_teams_keeps_refusing_is_set_aside_with_an_error_record(archive):
    from bot.relay import parked as parked_module

    poster = Poster()
    poster.refuse = {"poison"}
    relay = Relay(archive, poster)
    await bind(archive)
    put = await archive.put(inbound("4915100000004", "poison", 1))
    name, record = put.name, put.record
    async with relay.parked.lock(record.conversation):
        await relay.parked.park(record.conversation, [(name, record)])
    for _ in range(parked_module.MAX_FAILED_ATTEMPTS):
        relay.parked.forget_backoff()
        await relay.parked.drain_due()
    errors = [r async for r in _records(archive) if r.kind == "error"]
    assert [(e.type, e.relates_to) for e in errors] == [("relay_failed", record.id)]
    assert relay.parked.contacts == set()


# -- threads and posting ---------------------------------------------------------------------------


async def test_a_thread_that_failed_to_start_can_be_started_at_once_again(archive):
    poster = Poster()
    threads = ThreadMap(archive.store, poster, instance="i1")
    conversation = make_conversation_id(PNID, "4915100000005")
    poster.down = True
    with pytest.raises(TeamsUnavailable):
        await threads.ensure(conversation, "4915100000005", BINDING, {"text": "hello"})
    poster.down = False  # the claim was given up: no waiting for it to lapse
    thread, root = await threads.ensure(conversation, "4915100000005", BINDING, {"text": "hello"})
    assert root is not None and thread.started
    assert (await threads.of_teams_thread(thread.thread_id)).conversation == conversation
    again, second_root = await threads.ensure(conversation, "4915100000005", BINDING, {})
    assert again.thread_id == thread.thread_id and second_root is None


async def test_posting_needs_an_inbox_and_archives_each_post_linked(archive):
    poster = Poster()
    relay = Relay(archive, poster)
    record = (await archive.put(inbound("4915100000006", "hi *there*", 1))).record
    with pytest.raises(RetryLater, match="setup"):
        await relay.posting.show(record)
    await bind(archive)
    await relay.posting.show(record)
    (posts,) = poster.threads.values()
    assert "hi *there*" in posts[0]["text"]
    (relay_record,) = [r async for r in _records(archive) if r.type == "relay"]
    assert relay_record.relates_to == record.id and relay_record.source_id != record.source_id


async def test_the_inbox_cache_sees_its_own_setup_at_once_and_others_within_its_ttl(archive):
    clock = [0.0]
    cache = InboxCache(archive.store, ttl=2.0, clock=lambda: clock[0])
    assert await cache.get() is None
    await bind(archive)  # bound through another instance
    assert await cache.get() is None
    clock[0] = 2.0
    assert await cache.get() == BINDING
    moved = InboxBinding("19:other@thread.tacv2", "http://connector.invalid")
    assert await cache.bind(moved) == BINDING and await cache.get() == moved


# -- the worker ------------------------------------------------------------------------------------


async def test_the_hand_off_posts_at_once_without_waiting_for_a_poll(archive):
    poster = Poster()
    relay = Relay(archive, poster)  # polls every 60 s
    await bind(archive)
    relay.worker.start()
    try:
        record = (await archive.put(inbound("4915100000007", "now please", 1))).record
        await relay.worker.offer([record])
        await eventually(lambda: poster.threads, limit=5.0, interval=0.005, what="the post")
    finally:
        await relay.worker.stop()
    await relay.worker.run_once()  # what the hand-off posted the ledger does not post again
    assert sum(len(p) for p in poster.threads.values()) == 1


async def test_records_of_an_instance_not_following_the_ledger_wait_for_the_one_that_does(archive):
    first, second = Poster(), Poster()
    holder = Relay(archive, first, "holder")
    other = Relay(archive, second, "other")
    await bind(archive)
    await archive.put(inbound("4915100000008", "one", 1))
    await holder.worker.run_once()
    record = (await archive.put(inbound("4915100000008", "two", 2))).record
    await other.worker.offer([record])
    await other.worker.run_once()  # another instance holds the feed: it posts nothing
    assert second.threads == {}
    await holder.worker.run_once()
    (texts,) = first.texts().values()
    assert [t.rsplit(": ", 1)[-1] for t in texts] == ["one", "two"]


class SlowPoster(Poster):
    """Starting a thread takes a moment (``started`` is set once one is under way)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()

    async def post_new_thread(self, endpoint: TeamsEndpoint, channel_id: str, activity):
        self.started.set()
        await asyncio.sleep(0.3)
        return await super().post_new_thread(endpoint, channel_id, activity)


async def test_a_parked_record_being_posted_at_shutdown_is_posted_and_its_queue_let_go(archive):
    poster = SlowPoster()
    relay = Relay(archive, poster)
    await bind(archive)
    put = await archive.put(inbound("4915100000009", "waited", 1))
    conversation = put.record.conversation
    async with relay.parked.lock(conversation):
        await relay.parked.park(conversation, [(put.name, put.record)])
    relay.worker.start()
    await asyncio.wait_for(poster.started.wait(), 10)  # the drain is posting it
    await relay.worker.stop()
    # The post under way finished (it was not cut off), and the queue is gone with its lease:
    # the next instance has nothing to wait for.
    (texts,) = poster.texts().values()
    assert texts[0].endswith("waited")
    queue = await DocStore(archive.store, ParkedQueue).get(pending_doc(conversation))
    assert queue is None or (queue.items == () and queue.lease.owner is None)


async def _records(archive: Archive):
    async for _name, data in archive.iter_records():
        yield Record.from_bytes(data)
