"""The relay follows the archive's ledger: what Teams shows, once, whichever instance shows it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from bot.relay.state import FEED_DOC, FeedCursor
from bridge.state import DocStore, Lease
from tests.fakes.meta_graph import text_delivery
from tests.relay.support import read_json, wait_for
from tests.relay.test_relay_e2e import MAX, SHEENA, bot_posts


def shown(world) -> list[str]:
    return [p.shown_text() for t in world.connector.threads for p in bot_posts(world, t)]


async def test_a_redelivered_whatsapp_message_shows_once_in_teams(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    pnid = world.meta.phone_number_id
    first = text_delivery(pnid, SHEENA, "is my order ready?", wamid="wamid.feed.1")

    # Meta retries (and several subscribed apps) deliver one event again: at once, and later.
    statuses = await asyncio.gather(*(world.deliver(service, first) for _ in range(3)))
    assert statuses == [200, 200, 200]
    await wait_for(lambda: any("is my order ready?" in t for t in shown(world)), what="post")
    assert await world.deliver(service, first) == 200
    later = text_delivery(pnid, SHEENA, "hello?", wamid="wamid.feed.2", timestamp=1764350100)
    assert await world.deliver(service, later) == 200
    await wait_for(lambda: any("hello?" in t for t in shown(world)), what="second post")
    await service.parts.relay.run_once()

    texts = shown(world)
    assert len(texts) == 2, texts
    assert "is my order ready?" in texts[0] and "hello?" in texts[1]


async def test_while_no_inbox_is_bound_nothing_is_queued_and_all_shows_after(world):
    service = await world.start_service()
    await world.register(service)
    pnid = world.meta.phone_number_id
    for n in range(6):
        contact, name = (SHEENA, "Sheena Nelson") if n % 2 == 0 else (MAX, "Max")
        payload = text_delivery(
            pnid,
            contact,
            f"early {n}",
            name=name,
            wamid=f"wamid.early.{n}",
            timestamp=1764350000 + n,
        )
        assert await world.deliver(service, payload) == 200
    await service.parts.relay.run_once()
    # The records wait in the archive's ledger: the relay wrote no state of its own for them.
    assert [i.name async for i in service.archive.store.list("state/relay/")] == []

    await world.setup_inbox(service)
    await wait_for(lambda: len(shown(world)) == 6, what="six posts")
    for thread in world.connector.threads:
        texts = [p.shown_text() for p in bot_posts(world, thread)]
        numbers = [int(t.rsplit("early ", 1)[1][0]) for t in texts]
        assert numbers == sorted(numbers) and len(numbers) == 3  # each contact's, in order


async def test_when_the_instance_following_the_ledger_stops_another_takes_over_at_once(world):
    first = await world.start_service()
    second = await world.start_service()
    await world.register(first)
    await world.setup_inbox(first)
    pnid = world.meta.phone_number_id
    assert await world.deliver(first, text_delivery(pnid, SHEENA, "one", wamid="wamid.to.1")) == 200
    await wait_for(lambda: len(shown(world)) == 1, what="first post")

    feed = await read_json(first.archive.store, FEED_DOC)
    holder = feed["lease"]["owner"]
    by_instance = {s.parts.relay.instance: s for s in (first, second)}
    stopping = by_instance[holder]
    other = second if stopping is first else first
    await stopping.server.stop()  # a clean stop gives the lease up (it would last 60 s)

    payload = text_delivery(pnid, SHEENA, "two", wamid="wamid.to.2", timestamp=1764350100)
    assert await world.deliver(other, payload) == 200
    await wait_for(lambda: len(shown(world)) == 2, limit=10.0, what="post by the other instance")
    assert (await read_json(other.archive.store, FEED_DOC))["lease"]["owner"] != holder


async def test_the_lease_of_an_instance_that_died_runs_out_and_the_relay_resumes(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    # An instance that died while following the ledger: its lease still holds for a moment.
    until = time.time() + 2.0
    await DocStore(service.archive.store, FeedCursor).update(
        FEED_DOC,
        lambda cursor: replace(cursor or FeedCursor(), lease=Lease("dead-instance", until)),
    )
    pnid = world.meta.phone_number_id
    assert await world.deliver(service, text_delivery(pnid, SHEENA, "still there?")) == 200
    await asyncio.sleep(1.0)
    assert shown(world) == []  # not while the other instance may still be posting

    await wait_for(lambda: len(shown(world)) == 1, limit=15.0, what="post after the lease")
    assert "still there?" in shown(world)[0]


async def test_archive_pending_says_what_has_not_reached_teams(
    world, archive_location, monkeypatch, capsys
):
    from bot.cli import main

    for name, value in archive_location["env"].items():
        monkeypatch.setenv(name, value)

    async def pending() -> str:
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["archive", "pending"]) == 0
        return capsys.readouterr().out

    service = await world.start_service()
    await world.register(service)
    pnid = world.meta.phone_number_id
    assert await world.deliver(service, text_delivery(pnid, SHEENA, "before setup")) == 200
    out = await pending()
    assert "RELAY inbox=none" in out and "0 record(s) parked for Teams" in out
    behind = int(out.split("ledger_not_followed=")[1].split()[0])
    assert behind > 0  # the message waits in the ledger

    await world.setup_inbox(service)
    await wait_for(lambda: len(shown(world)) == 1, what="the waiting message, once bound")

    world.connector.unavailable = True  # Teams cannot take the next one: parked for a retry
    later = text_delivery(
        pnid, SHEENA, "while Teams is down", wamid="wamid.down.p", timestamp=1764350100
    )
    assert await world.deliver(service, later) == 200

    async def parked() -> list:
        return [i async for i in service.archive.store.list("state/relay/pending/")]

    await wait_for(parked, what="a parked record")
    out = await pending()
    assert "RELAY inbox=bound" in out and "1 record(s) parked for Teams" in out
    assert f"RELAY-PARKED conversation=wa:{pnid}:{SHEENA}" in out

    world.connector.unavailable = False
    service.parts.relay.wake(now=True)
    await wait_for(lambda: len(shown(world)) == 2, what="the post once Teams is back")
    await service.parts.relay.run_once()
    out = await pending()
    assert "0 record(s) parked for Teams" in out and "ledger_not_followed=0 bytes" in out


def _ledger_line(prev: str, name: str) -> tuple[bytes, str]:
    from bridge.ledger import LedgerEntry, entry_line

    return entry_line(prev, LedgerEntry(name, "0" * 64, name.rsplit("/", 1)[-1]))


async def test_the_cursor_forgets_past_days_once_handled_and_nothing_reads_as_behind(store):
    from datetime import UTC, datetime, timedelta

    from bot.relay.backlog import relay_backlog
    from bot.relay.feed import LedgerFeed, prune
    from bot.relay.state import FeedCursor
    from bridge.ledger import GENESIS

    today = datetime.now(UTC)
    days = [(today - timedelta(days=n)).strftime("%Y-%m-%d") for n in (6, 5, 3, 0)]
    for day in days:
        for writer in ("a", "b"):
            data, prev = b"", GENESIS
            for n in range(3):  # records the relay passes over (not WhatsApp conversations)
                line, prev = _ledger_line(prev, f"records/teams:x/{day}/{writer}{n}.json")
                data += line
            await store.append(f"ledger/{day}/{writer}-000001.jsonl", data)

    feed = LedgerFeed(store, "instance-1")
    batch = await feed.read()
    assert batch is not None and batch.entries == []
    await feed.commit(batch.ends)

    doc = await read_json(store, FEED_DOC)
    # The days older than two are complete and gone from the cursor; the recent ones stay.
    assert doc["complete_before"] == (today - timedelta(days=2)).strftime("%Y-%m-%d")
    assert sorted(doc["segments"]) == [
        f"ledger/{days[-1]}/a-000001.jsonl",
        f"ledger/{days[-1]}/b-000001.jsonl",
    ]
    assert await feed.read() is None  # nothing read again
    assert (await relay_backlog(store)).ledger_bytes_behind == 0

    # A new segment is behind again; an old day not handled to its end stays in the cursor,
    # and so does every later day.
    line, _ = _ledger_line(GENESIS, "records/teams:x/late.json")
    await store.append(f"ledger/{days[-1]}/c-000001.jsonl", line)
    assert (await relay_backlog(store)).ledger_bytes_behind == len(line)
    sizes = {f"ledger/{days[0]}/a.jsonl": 100, f"ledger/{days[1]}/a.jsonl": 100}
    cursor = FeedCursor({f"ledger/{days[0]}/a.jsonl": 60, f"ledger/{days[1]}/a.jsonl": 100})
    pruned = prune(cursor, sizes, days[-1])
    assert pruned.complete_before == "" and len(pruned.segments) == 2
