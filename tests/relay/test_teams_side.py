"""The Teams side beyond plain replies: attachments, edits and deletions, ``new`` in a personal
chat, the policy acknowledgement flow of a governance gate, and the install greeting."""

from __future__ import annotations

import hashlib
from typing import Any

from bot.ports import GateDecision
from bridge.ids import media_blob_name
from tests.relay.support import ANN, CHANNEL
from tests.relay.test_relay_e2e import bot_posts, open_thread, reply, sent_card

PNG = b"\x89PNG\r\n\x1a\n" + b"wabridge test image" * 50


async def test_an_attached_image_is_fetched_archived_and_sent(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    thread = await open_thread(world, service)
    url = world.connector.add_attachment(PNG, "image/png")
    attachments = [
        {"contentType": "image/*", "contentUrl": url, "name": "chart.png"},
        {"contentType": "text/html", "content": "<p>see chart</p>"},
    ]

    await world.teams(service, reply(world, thread, "see chart", attachments=attachments))
    (sent,) = world.meta.sent
    assert sent["type"] == "image" and sent["image"]["caption"] == "see chart"
    uploaded = world.meta.media[sent["image"]["id"]]
    assert uploaded.data == PNG
    records = await world.records(service)
    (employee,) = [r for r in records if r.platform == "teams" and r.direction == "outbound"]
    (attachment,) = employee.attachments
    assert (
        attachment.sha256 == hashlib.sha256(PNG).hexdigest() and attachment.mime_type == "image/png"
    )
    assert await service.archive.store.read(media_blob_name(attachment.sha256)) == PNG


async def test_an_attachment_teams_refuses_is_reported_not_sent(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    thread = await open_thread(world, service)
    world.connector.attachment_token = "a-token-the-bot-does-not-have"
    url = world.connector.add_attachment(PNG, "image/png")

    await world.teams(
        service,
        reply(
            world,
            thread,
            "chart attached",
            attachments=[{"contentType": "image/*", "contentUrl": url}],
        ),
    )
    assert world.meta.sent == [] and world.connector.refused_attachment_requests == 1
    assert any("Teams refused the download" in p.shown_text() for p in bot_posts(world, thread))


async def test_edits_and_deletions_in_a_thread_are_archived(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    thread = await open_thread(world, service)
    message = reply(world, thread, "Price is 100")
    await world.teams(service, message)
    common = {"service_url": world.connector.url, "channel_id": CHANNEL, "thread_id": thread}

    await world.teams(service, ANN.channel_edit(message["id"], "Price is 120", **common))
    await world.teams(service, ANN.channel_delete(message["id"], **common))
    records = await world.records(service)
    (original,) = [
        r
        for r in records
        if r.platform == "teams" and r.kind == "message" and r.direction == "outbound"
    ]
    (edit,) = [r for r in records if r.kind == "edit"]
    (delete,) = [r for r in records if r.kind == "delete"]
    assert edit.text == "Price is 120" and edit.sender.id == ANN.object_id
    assert edit.relates_to == original.source_id == delete.relates_to
    assert edit.conversation == delete.conversation == original.conversation


async def test_new_starts_a_conversation_with_a_template_and_opens_its_thread(world):
    service = await world.start_service()
    await world.register(service)
    await world.setup_inbox(service)
    url = world.connector.url

    assert await world.teams(service, ANN.personal_message("help", service_url=url)) in (200, 201)
    assert "new +E164 TEMPLATE" in world.connector.posts[-1].shown_text()
    await world.teams(
        service, ANN.personal_message("new +4917600000001 follow_up Max", service_url=url)
    )
    (sent,) = world.meta.sent
    assert sent["to"] == "4917600000001" and sent["template"]["name"] == "follow_up"
    (thread,) = world.connector.threads
    assert "+4917600000001" in world.connector.threads[thread].shown_text()
    await sent_card(world, thread)
    assert "Started a conversation" in world.connector.posts[-1].shown_text()

    # A template that does not exist is explained, not sent.
    await world.teams(
        service, ANN.personal_message("new +4917600000002 no_such_template", service_url=url)
    )
    assert "no approved template named 'no_such_template'" in world.connector.posts[-1].shown_text()
    assert len(world.meta.sent) == 1


class AcknowledgeFirstGate:
    """A governance stand-in: holds the first message until the policy is accepted."""

    def __init__(self) -> None:
        self.held: list[dict[str, Any]] = []
        self.accepted = False

    async def check_outbound(self, employee, *, text, mime_types, held):
        if self.accepted:
            return GateDecision(
                "relay",
                flags=({"rule": "promissory", "action": "flag", "reason": "Promissory language"},),
            )
        self.held.append(held)
        card = {
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [{"type": "TextBlock", "text": "WhatsApp policy 2026-11"}],
                "actions": [
                    {
                        "type": "Action.Submit",
                        "title": "Accept",
                        "data": {"wabridge": "accept_policy", "version": "2026-11"},
                    }
                ],
            },
        }
        return GateDecision("acknowledge", card=card)

    async def accept_policy(self, employee, version):
        self.accepted = True
        held, self.held = self.held, []
        return held

    async def refusal(self, employee, *, text, held):
        return None

    def inbound_flags(self, text):
        return ()


async def test_a_held_message_is_sent_once_after_the_policy_is_accepted(world):
    gate = AcknowledgeFirstGate()
    service = await world.start_service(gate=gate)
    await world.setup_inbox(service)
    thread = await open_thread(world, service)

    await world.teams(service, reply(world, thread, "guaranteed returns!"))
    assert world.meta.sent == []
    assert any("WhatsApp policy 2026-11" in p.shown_text() for p in bot_posts(world, thread))
    accept = reply(world, thread, "", value={"wabridge": "accept_policy", "version": "2026-11"})
    await world.teams(service, accept)
    assert [m["text"]["body"] for m in world.meta.sent] == ["guaranteed returns!"]
    await world.teams(service, reply(world, thread, "and more guaranteed returns"))
    assert len(world.meta.sent) == 2 and gate.held == []
    records = await world.records(service)
    flagged = [
        r
        for r in records
        if r.platform == "whatsapp"
        and r.kind == "message"
        and r.direction == "outbound"
        and r.flags
    ]
    assert [f.rule for r in flagged for f in r.flags] == ["promissory"]


async def test_installing_in_a_team_offers_setup_until_an_inbox_is_bound(world):
    service = await world.start_service()
    update = ANN.channel_message("", service_url=world.connector.url, channel_id=CHANNEL)
    update.update(
        {"type": "conversationUpdate", "text": None, "membersAdded": [{"id": "28:wabridge-bot"}]}
    )
    update["channelData"]["eventType"] = "teamMemberAdded"
    await world.teams(service, update)
    assert "`setup`" in world.connector.posts[-1].shown_text()
    await world.setup_inbox(service)
    posts = len(world.connector.posts)
    await world.teams(service, update | {"id": "another"})
    assert len(world.connector.posts) == posts
