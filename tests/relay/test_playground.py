"""The relay driven through Microsoft's Teams emulator (``@microsoft/m365agentsplayground``).

``setup`` in a playground channel, a WhatsApp message opens a thread there (the bot posts to
the playground's Bot Connector), and a reply in that thread -- with the @mention markup Teams
adds -- reaches the fake Graph API as plain text.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.relay.state import INBOX, teams_thread_doc, thread_doc
from bridge.governance.registry import Member, UserRegistry
from bridge.ids import make_conversation_id
from tests.fakes.meta_graph import text_delivery
from tests.relay.support import free_port, read_json, wait_for
from tests.support.playground import CHANNEL, USER_OBJECT_ID, USER_UPN, Playground

SHEENA = "4915112345678"


@pytest.fixture
async def playground_world(world, tmp_path):
    port = free_port()
    playground = Playground(
        tmp_path / "playground", free_port(), f"http://127.0.0.1:{port}/api/messages"
    )
    try:
        await asyncio.to_thread(playground.wait_ready)
        service = await world.start_service(PORT=str(port))
        yield world, service, playground
    finally:
        playground.stop()


async def test_setup_thread_and_reply_through_the_teams_emulator(playground_world):
    world, service, playground = playground_world
    await UserRegistry(service.archive).add(
        Member(USER_OBJECT_ID, USER_UPN, "Alex Wilber"), by="test"
    )

    async with world.session.post(
        playground.messages_url(CHANNEL), json=playground.message_mentioning_bot("setup")
    ) as resp:
        assert resp.status == 200, await resp.text()
    inbox = await wait_for(lambda: read_json(service.archive.store, INBOX), what="inbox bound")
    assert inbox["channel_id"] == CHANNEL
    assert inbox["service_url"].endswith(f":{playground.port}/_connector")

    pnid = world.meta.phone_number_id
    assert await world.deliver(service, text_delivery(pnid, SHEENA, "Hello from WhatsApp")) == 200
    thread = await wait_for(
        lambda: _started(service.archive.store, thread_doc(make_conversation_id(pnid, SHEENA))),
        what="thread opened in the playground",
    )
    assert thread["thread_id"].startswith(f"{CHANNEL};messageid=")
    await wait_for(
        lambda: read_json(service.archive.store, teams_thread_doc(thread["thread_id"])),
        what="thread mapping",
    )

    async with world.session.post(
        playground.messages_url(thread["thread_id"]),
        json=playground.message_mentioning_bot("Thanks, we will call you today."),
    ) as resp:
        assert resp.status == 200, await resp.text()
    await wait_for(lambda: world.meta.sent, what="the reply at the Graph API")
    (sent,) = world.meta.sent
    assert sent["to"] == SHEENA and sent["text"]["body"] == "Thanks, we will call you today."


async def _started(store, name):
    """The contact's thread document once the thread exists (not while it is being started)."""
    doc = await read_json(store, name)
    return doc if doc and doc.get("thread_id") else None
