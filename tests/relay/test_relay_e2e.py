"""The relay end to end over real HTTP.

Meta webhook -> Teams thread -> reply -> Cloud API -> status webhook -> Teams post updated.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from bot.relay.parked import RetryLater
from bot.relay.state import InboxBinding, teams_thread_doc
from bridge.verify import verify_archive
from tests.fakes.meta_graph import error_131047, status_delivery, text_delivery
from tests.relay.support import ANN, BOB, CHANNEL, read_json, wait_for

SHEENA = "4915112345678"
MAX = "4917698765432"


def reply(world, thread_id, text, user=ANN, **kw):
    return user.channel_message(
        text,
        service_url=world.connector.url,
        channel_id=CHANNEL,
        thread_id=thread_id,
        mention_bot=True,
        **kw,
    )


async def open_thread(
    world, service, wa_id=SHEENA, text="Hello, is my order ready?", name="Sheena Nelson", wamid=None
):
    pnid = world.meta.phone_number_id
    before = set(world.connector.threads)
    assert (
        await world.deliver(service, text_delivery(pnid, wa_id, text, name=name, wamid=wamid))
        == 200
    )
    thread = await wait_for(
        lambda: next(iter(set(world.connector.threads) - before), None), what="a new thread"
    )
    # The thread is usable once the relay has recorded it (a moment after the post).
    await wait_for(
        lambda: read_json(service.archive.store, teams_thread_doc(thread)),
        what="the thread mapping",
    )
    return thread


def bot_posts(world, thread_id):
    return world.connector.posts_in(thread_id)


async def sent_card(world, thread_id, count=1):
    return await wait_for(
        lambda: (
            [p for p in bot_posts(world, thread_id) if "to +" in p.shown_text()][:count]
            if len([p for p in bot_posts(world, thread_id) if "to +" in p.shown_text()]) >= count
            else None
        ),
        what="status card",
    )


async def test_conversation_both_ways_is_relayed_archived_and_linked(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    assert "WhatsApp inbox" in world.connector.posts[-1].shown_text()
    pnid = world.meta.phone_number_id

    thread = await open_thread(world, service, wamid="wamid.in.1")
    root = world.connector.threads[thread]
    assert thread.startswith(CHANNEL + ";messageid=")
    assert "Sheena Nelson" in root.shown_text() and "+4915112345678" in root.shown_text()
    assert "Hello, is my order ready?" in root.shown_text()

    # A later message of the same contact is a reply in the same thread; another contact, another.
    await world.deliver(
        service, text_delivery(pnid, SHEENA, "Order 1234", wamid="wamid.in.2", timestamp=1764350050)
    )
    await wait_for(lambda: len(bot_posts(world, thread)) == 2, what="second message in thread")
    assert "Order 1234" in bot_posts(world, thread)[1].shown_text()
    other = await open_thread(world, service, MAX, "Hi, Max here", name="Max", wamid="wamid.in.3")
    assert other != thread and len(world.connector.threads) == 2

    # The employee replies in the thread: it reaches the contact without the mention markup.
    assert await world.teams(service, reply(world, thread, "Yes, it ships tomorrow.")) in (200, 201)
    assert [(m["to"], m["type"], m["text"]["body"]) for m in world.meta.sent] == [
        (SHEENA, "text", "Yes, it ships tomorrow.")
    ]
    (card,) = await sent_card(world, thread)
    assert "Sent" in card.shown_text()

    # Statuses update that one card; they add nothing to the thread.
    records = await world.records(service)
    (sent,) = [
        r
        for r in records
        if r.platform == "whatsapp" and r.kind == "message" and r.direction == "outbound"
    ]
    posts_before = len(bot_posts(world, thread))
    await world.deliver(service, status_delivery(pnid, sent.source_id, "delivered", SHEENA))
    await wait_for(lambda: "Delivered" in card.shown_text(), what="card shows delivered")
    await world.deliver(
        service, status_delivery(pnid, sent.source_id, "read", SHEENA, timestamp=1764350200)
    )
    await wait_for(lambda: "Read" in card.shown_text(), what="card shows read")
    assert len(bot_posts(world, thread)) == posts_before

    # The archive holds every step once, linked.
    records = await world.records(service)
    by_id = {r.id: r for r in records}
    inbound = [r for r in records if r.platform == "whatsapp" and r.direction == "inbound"]
    assert sorted(r.source_id for r in inbound) == ["wamid.in.1", "wamid.in.2", "wamid.in.3"]
    relays = [r for r in records if r.platform == "teams" and r.type == "relay"]
    assert sorted(by_id[r.relates_to].source_id for r in relays) == sorted(
        r.source_id for r in inbound
    )
    assert all(r.source_id not in {i.source_id for i in inbound} for r in relays)
    (employee,) = [r for r in records if r.platform == "teams" and r.direction == "outbound"]
    assert employee.sender.id == ANN.object_id and employee.sender.upn == ANN.upn
    assert employee.text == "Yes, it ships tomorrow." and employee.kind == "message"
    assert sent.relates_to == employee.id and sent.source_id.startswith("wamid.")
    statuses = [r for r in records if r.kind == "status"]
    assert sorted(r.status for r in statuses) == ["delivered", "read"]
    assert all(r.source_id == sent.source_id for r in statuses)
    keys = Counter((r.platform, r.kind, r.source_id, r.status) for r in records)
    assert max(keys.values()) == 1
    report = await verify_archive(service.archive)
    assert report.ok, report


async def test_two_instances_create_one_thread_for_a_new_contact(world):
    first = await world.start_service()
    second = await world.start_service()
    await world.register(first)
    await world.setup_inbox(first)
    pnid = world.meta.phone_number_id
    statuses = await asyncio.gather(
        world.deliver(
            first,
            text_delivery(
                pnid, SHEENA, "first, via instance one", wamid="wamid.race.1", timestamp=1764350001
            ),
        ),
        world.deliver(
            second,
            text_delivery(
                pnid, SHEENA, "second, via instance two", wamid="wamid.race.2", timestamp=1764350002
            ),
        ),
    )
    assert statuses == [200, 200]
    await wait_for(
        lambda: sum(len(bot_posts(world, t)) for t in world.connector.threads) >= 2,
        what="both messages posted",
    )
    assert len(world.connector.threads) == 1
    (thread,) = world.connector.threads
    texts = " ".join(p.shown_text() for p in bot_posts(world, thread))
    assert "first, via instance one" in texts and "second, via instance two" in texts
    # Both instances work through what is left; still one thread, each message once.
    for service in (first, second):
        await service.parts.relay.run_once()
    assert len(world.connector.threads) == 1
    assert len(bot_posts(world, thread)) == 2


async def test_outside_the_24_hour_window_the_employee_can_send_a_template(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    thread = await open_thread(world, service)
    world.meta.fail_sends(131047, to=SHEENA, times=1)

    await world.teams(service, reply(world, thread, "Are you still interested?"))
    notice = await wait_for(
        lambda: next((p for p in bot_posts(world, thread) if "24 hours" in p.shown_text()), None),
        what="24-hour explanation",
    )
    assert "template follow_up PARAM1" in notice.shown_text()
    assert world.meta.sent == []
    records = await world.records(service)
    (employee,) = [r for r in records if r.platform == "teams" and r.direction == "outbound"]
    (error,) = [r for r in records if r.kind == "error"]
    assert error.relates_to == employee.id and error.type == "131047"

    await world.teams(service, reply(world, thread, "template follow_up Sheena"))
    (sent,) = world.meta.sent
    assert sent["type"] == "template" and sent["template"]["name"] == "follow_up"
    assert sent["template"]["components"][0]["parameters"][0]["text"] == "Sheena"
    await sent_card(world, thread)


async def test_a_failed_status_outside_the_window_explains_in_the_thread(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    thread = await open_thread(world, service)
    await world.teams(service, reply(world, thread, "Following up"))
    (card,) = await sent_card(world, thread)
    records = await world.records(service)
    (sent,) = [
        r
        for r in records
        if r.platform == "whatsapp" and r.direction == "outbound" and r.kind == "message"
    ]

    await world.deliver(
        service,
        status_delivery(
            world.meta.phone_number_id, sent.source_id, "failed", SHEENA, errors=[error_131047()]
        ),
    )
    notice = await wait_for(
        lambda: next((p for p in bot_posts(world, thread) if "24 hours" in p.shown_text()), None),
        what="24-hour explanation",
    )
    assert "template hello_world" in notice.shown_text()
    await wait_for(lambda: "Not delivered" in card.shown_text(), what="card shows failure")


async def test_rate_limits_are_retried_and_other_errors_shown(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    thread = await open_thread(world, service)

    world.meta.fail_sends(130429, times=2)
    await world.teams(service, reply(world, thread, "Sorry for the wait"))
    assert [m["text"]["body"] for m in world.meta.sent] == ["Sorry for the wait"]

    world.meta.fail_sends(131026, times=1)
    await world.teams(service, reply(world, thread, "Hello?"))
    await wait_for(
        lambda: any("Message undeliverable" in p.shown_text() for p in bot_posts(world, thread)),
        what="Meta's message shown",
    )
    assert len(world.meta.sent) == 1


async def test_an_unregistered_employee_is_refused(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    thread = await open_thread(world, service)

    await world.teams(service, reply(world, thread, "Can I help?", user=BOB))
    assert world.meta.sent == []
    assert any("not registered" in p.shown_text() for p in bot_posts(world, thread))
    records = await world.records(service)
    (policy,) = [r for r in records if r.kind == "policy"]
    assert policy.sender.id == BOB.object_id
    (message,) = [r for r in records if r.platform == "teams" and r.direction == "outbound"]
    assert message.sender.id == BOB.object_id  # archived although not sent


async def test_queued_messages_survive_a_connector_outage_and_a_restart(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    world.connector.unavailable = True
    pnid = world.meta.phone_number_id
    assert (
        await world.deliver(
            service, text_delivery(pnid, SHEENA, "anyone there?", wamid="wamid.down.1")
        )
        == 200
    )
    assert (
        await world.deliver(
            service,
            text_delivery(pnid, SHEENA, "hello??", wamid="wamid.down.2", timestamp=1764350060),
        )
        == 200
    )
    await service.server.stop()  # the instance goes away with the work queued

    world.connector.unavailable = False
    await world.start_service()  # a fresh instance on the same archive picks it up
    await wait_for(
        lambda: (
            world.connector.threads
            and sum(len(bot_posts(world, t)) for t in world.connector.threads) == 2
        ),
        what="queued posts",
    )
    (thread,) = world.connector.threads
    texts = [p.shown_text() for p in bot_posts(world, thread)]
    assert "anyone there?" in texts[0] and "hello??" in texts[1]


async def test_a_redelivered_teams_activity_is_sent_once(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    thread = await open_thread(world, service)
    message = reply(world, thread, "Only once, please")

    assert await world.teams(service, message) in (200, 201)
    assert await world.teams(service, message) in (200, 201)
    assert [m["text"]["body"] for m in world.meta.sent] == ["Only once, please"]
    records = await world.records(service)
    assert len([r for r in records if r.platform == "teams" and r.direction == "outbound"]) == 1


async def test_messages_that_arrive_before_the_inbox_is_bound_wait_for_it(world):
    service = await world.start_service()
    await world.register(service)
    pnid = world.meta.phone_number_id
    assert await world.deliver(service, text_delivery(pnid, SHEENA, "hello, early bird")) == 200
    assert await world.deliver(service, text_delivery(pnid, MAX, "me too", name="Max")) == 200
    await asyncio.sleep(0.5)  # the worker has found no inbox and backs off
    assert world.connector.threads == {}

    await world.setup_inbox(service)
    await wait_for(lambda: len(world.connector.threads) == 2, what="both threads")
    texts = " ".join(p.shown_text() for p in world.connector.posts)
    assert "hello, early bird" in texts and "me too" in texts


async def test_starting_a_thread_is_claimed_so_concurrent_starters_make_one(world):
    first = await world.start_service()
    second = await world.start_service()
    await world.setup_inbox(first)
    binding = InboxBinding.from_dict(await read_json(first.archive.store, "state/teams/inbox.json"))
    conversation = f"wa:{world.meta.phone_number_id}:{SHEENA}"

    async def start(service):
        try:
            return await service.parts.threads.ensure(
                conversation, SHEENA, binding, {"type": "message", "text": "first post"}
            )
        except RetryLater:
            return None

    results = await asyncio.gather(*(start(s) for s in (first, second, first, second)))
    assert len(world.connector.threads) == 1
    started = [r for r in results if r is not None and r[1] is not None]
    assert len(started) == 1
    (thread,) = world.connector.threads
    again, root = await start(second)
    assert again.thread_id == thread and root is None
