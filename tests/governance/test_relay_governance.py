"""Governance through the relay, over real HTTP: the fake Bot Connector on the Teams side, the
fake Meta Graph API on the WhatsApp side, the service in between with a policy file."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.fakes.meta_graph import text_delivery
from tests.governance.conftest import POLICY_FILE
from tests.relay.support import ANN, BOB, CHANNEL, wait_for

SHEENA = "4915112345678"
CARD = "4111 1111 1111 1111"


def reply(world, thread_id, text, user=ANN, **kw):
    return user.channel_message(
        text,
        service_url=world.connector.url,
        channel_id=CHANNEL,
        thread_id=thread_id,
        mention_bot=True,
        **kw,
    )


def accept(world, thread_id, version, user=ANN):
    """The Accept button of the policy card, as Teams delivers it (a message with ``value``)."""
    return user.channel_message(
        "",
        service_url=world.connector.url,
        channel_id=CHANNEL,
        thread_id=thread_id,
        value={"wabridge": "accept_policy", "version": version},
    )


async def governed(world, policy_file=POLICY_FILE, **env):
    settings = {
        "WABRIDGE_POLICY_FILE": str(policy_file),
        "WABRIDGE_REGISTRY_CACHE_SECONDS": "0",
        **env,
    }
    service = await world.start_service(**settings)
    await world.register(service)
    await world.setup_inbox(service)
    return service


async def open_thread(world, service, text="Hello, is my order ready?", wamid="wamid.gov.in.1"):
    before = set(world.connector.threads)
    status = await world.deliver(
        service, text_delivery(world.meta.phone_number_id, SHEENA, text, wamid=wamid)
    )
    assert status == 200
    thread = await wait_for(
        lambda: next(iter(set(world.connector.threads) - before), None), what="a new thread"
    )
    gate = service.parts.gate
    from bot.relay.state import teams_thread_doc
    from tests.relay.support import read_json

    await wait_for(
        lambda: read_json(service.archive.store, teams_thread_doc(thread)),
        what="the thread mapping",
    )
    assert gate.policy is not None
    return thread


def posts(world, thread):
    return world.connector.posts_in(thread)


def card_posts(world, thread):
    return [
        p
        for p in posts(world, thread)
        if any(
            a.get("contentType") == "application/vnd.microsoft.card.adaptive"
            and "Accept" in str(a.get("content"))
            for a in p.current.get("attachments") or []
        )
    ]


def policy_records(records, type_=None):
    return [r for r in records if r.kind == "policy" and (type_ is None or r.type == type_)]


async def test_an_unregistered_employee_is_refused_never_shown_the_card(world):
    service = await governed(world)
    thread = await open_thread(world, service)

    await world.teams(service, reply(world, thread, "Can I help?", user=BOB))

    assert world.meta.sent == []
    refusal = await wait_for(
        lambda: next((p for p in posts(world, thread) if "not registered" in p.shown_text()), None),
        what="the refusal",
    )
    assert "compliance@contoso.example" in refusal.shown_text()
    assert card_posts(world, thread) == []
    (record,) = policy_records(await world.records(service))
    assert record.type == "refusal" and record.sender.id == BOB.object_id
    assert record.text == "Can I help?" and record.conversation.endswith(SHEENA)


async def test_first_use_holds_until_accept_and_sends_exactly_once(world):
    service = await governed(world)
    thread = await open_thread(world, service)

    await world.teams(service, reply(world, thread, "Yes, it ships tomorrow."))
    (card,) = await wait_for(lambda: card_posts(world, thread), what="the policy card")
    assert "WhatsApp use at Contoso" in card.shown_text() and "2026-11" in card.shown_text()
    assert world.meta.sent == []
    (held,) = policy_records(await world.records(service), "acknowledgement_required")
    assert held.sender.id == ANN.object_id and held.raw["policy_version"] == "2026-11"

    # Accept (clicked twice, and redelivered by the connector): the message goes out once.
    await world.teams(service, accept(world, thread, "2026-11"))
    await wait_for(lambda: len(world.meta.sent) == 1, what="the held message sent")
    assert [m["text"]["body"] for m in world.meta.sent] == ["Yes, it ships tomorrow."]
    await world.teams(service, accept(world, thread, "2026-11"))
    again = accept(world, thread, "2026-11")
    await asyncio.gather(world.teams(service, again), world.teams(service, again))
    assert len(world.meta.sent) == 1

    records = await world.records(service)
    (ack,) = policy_records(records, "acknowledgement")
    assert ack.sender.id == ANN.object_id
    assert ack.raw["policy_version"] == "2026-11" and len(ack.raw["policy_text_sha256"]) == 64
    (sent,) = [
        r
        for r in records
        if r.platform == "whatsapp" and r.direction == "outbound" and r.kind == "message"
    ]
    (own,) = [r for r in records if r.platform == "teams" and r.direction == "outbound"]
    assert sent.relates_to == own.id and held.relates_to == own.id

    # From now on messages go straight out.
    await world.teams(service, reply(world, thread, "Anything else?"))
    await wait_for(lambda: len(world.meta.sent) == 2, what="the second message")
    assert len(card_posts(world, thread)) == 1


async def test_a_new_policy_version_asks_again(world, tmp_path):
    service = await governed(world)
    thread = await open_thread(world, service)
    await world.teams(service, reply(world, thread, "first"))
    await wait_for(lambda: card_posts(world, thread), what="the first card")
    await world.teams(service, accept(world, thread, "2026-11"))
    await wait_for(lambda: len(world.meta.sent) == 1, what="first message sent")

    bumped = tmp_path / "policy-2026-12.toml"
    bumped.write_text(POLICY_FILE.read_text().replace('version = "2026-11"', 'version = "2026-12"'))
    await service.server.stop()
    service = await world.start_service(
        WABRIDGE_POLICY_FILE=str(bumped), WABRIDGE_REGISTRY_CACHE_SECONDS="0"
    )
    await world.teams(service, reply(world, thread, "second"))
    await wait_for(lambda: len(card_posts(world, thread)) == 2, what="a card for 2026-12")
    assert "2026-12" in card_posts(world, thread)[-1].shown_text()
    assert len(world.meta.sent) == 1
    await world.teams(service, accept(world, thread, "2026-11"))  # the old card's button
    assert len(world.meta.sent) == 1
    await world.teams(service, accept(world, thread, "2026-12"))
    await wait_for(lambda: len(world.meta.sent) == 2, what="second message sent")
    versions = sorted(
        r.raw["policy_version"]
        for r in policy_records(await world.records(service), "acknowledgement")
    )
    assert versions == ["2026-11", "2026-12"]


async def test_blocked_card_number_never_reaches_whatsapp_flagged_keyword_does(world):
    service = await governed(world)
    thread = await open_thread(world, service)
    await world.teams(service, reply(world, thread, "hello"))
    await wait_for(lambda: card_posts(world, thread), what="the card")
    await world.teams(service, accept(world, thread, "2026-11"))
    await wait_for(lambda: len(world.meta.sent) == 1, what="hello sent")

    await world.teams(service, reply(world, thread, f"My card is {CARD}, please charge it"))
    notice = await wait_for(
        lambda: next((p for p in posts(world, thread) if "payment-card" in p.shown_text()), None),
        what="the block notice",
    )
    assert "Card numbers must not be sent over WhatsApp" in notice.shown_text()
    assert len(world.meta.sent) == 1
    assert all(CARD not in str(m) for m in world.meta.sent)

    await world.teams(service, reply(world, thread, "These are guaranteed returns."))
    await wait_for(lambda: len(world.meta.sent) == 2, what="the flagged message sent")
    assert world.meta.sent[-1]["text"]["body"] == "These are guaranteed returns."

    records = await world.records(service)
    (block,) = policy_records(records, "block")
    assert block.sender.id == ANN.object_id
    assert [(f.rule, f.action) for f in block.flags] == [("payment-card", "block")]
    (flagged,) = [
        r
        for r in records
        if r.platform == "whatsapp"
        and r.direction == "outbound"
        and r.kind == "message"
        and r.flags
    ]
    assert [(f.rule, f.action, f.reason) for f in flagged.flags] == [
        ("promissory", "flag", "Promissory language")
    ]


async def test_a_flagged_inbound_message_is_archived_with_flags_and_marked_in_teams(world):
    service = await governed(world)
    thread = await open_thread(world, service)
    await world.deliver(
        service,
        text_delivery(
            world.meta.phone_number_id,
            SHEENA,
            "Better write me on Telegram",
            wamid="wamid.gov.in.2",
            timestamp=1764350100,
        ),
    )
    post = await wait_for(
        lambda: next((p for p in posts(world, thread) if "Telegram" in p.shown_text()), None),
        what="the inbound post",
    )
    assert "Flagged by policy" in post.shown_text() and "off-channel" in post.shown_text()
    records = await world.records(service)
    (inbound,) = [r for r in records if r.source_id == "wamid.gov.in.2"]
    assert [(f.rule, f.action) for f in inbound.flags] == [("off-channel", "flag")]
    (first,) = [r for r in records if r.source_id == "wamid.gov.in.1"]
    assert first.flags == ()


async def test_a_registry_change_reaches_the_running_service(world, archive_location):
    """``wabridge users add`` in another process; the running service relays the employee."""
    service = await governed(world, WABRIDGE_REGISTRY_CACHE_SECONDS="1")
    thread = await open_thread(world, service)
    await world.teams(service, reply(world, thread, "first try", user=BOB))
    await wait_for(
        lambda: any("not registered" in p.shown_text() for p in posts(world, thread)),
        what="the refusal",
    )

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from bot.cli import main; sys.exit(main())",
        "users",
        "add",
        "--upn",
        BOB.upn,
        "--object-id",
        BOB.object_id,
        "--name",
        BOB.name,
        env={**os.environ, **archive_location["env"]},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    gate = service.parts.gate
    await wait_for(lambda: gate.authorized(BOB.object_id), what="the gate sees the new user")

    world.connector.add_member(BOB.object_id, BOB.name, BOB.upn)
    await world.teams(service, reply(world, thread, "second try", user=BOB))
    await wait_for(lambda: card_posts(world, thread), what="Bob's policy card")
    await world.teams(service, accept(world, thread, "2026-11", user=BOB))
    await wait_for(lambda: len(world.meta.sent) == 1, what="Bob's message sent")
    assert world.meta.sent[0]["text"]["body"] == "second try"


async def test_an_unregistered_employee_writing_to_the_bot_is_refused(world):
    """``new +NUMBER TEMPLATE`` in a personal chat: no thread is opened, nothing is sent."""
    service = await governed(world)
    world.connector.add_member(BOB.object_id, BOB.name, BOB.upn)
    threads_before = set(world.connector.threads)
    activity = BOB.personal_message(f"new +{SHEENA} hello_world", service_url=world.connector.url)
    assert await world.teams(service, activity) in (200, 201)

    personal = f"a:personal-{BOB.object_id}"
    answer = await wait_for(
        lambda: next((p for p in world.connector.posts if p.conversation_id == personal), None),
        what="the answer in the personal chat",
    )
    assert "not registered" in answer.shown_text()
    assert world.meta.sent == [] and set(world.connector.threads) == threads_before
    (record,) = policy_records(await world.records(service), "refusal")
    assert record.sender.id == BOB.object_id and record.source_id == activity["id"]
