from __future__ import annotations

from bridge.ids import make_conversation_id
from bridge.record import Party, Record, from_unix
from tests.relay.support import ANN, CHANNEL, wait_for

WA = "4915112345678"


def inbound(pnid, text, wamid, name="Sheena Nelson"):
    return Record(
        conversation=make_conversation_id(pnid, WA), platform="whatsapp", direction="inbound",
        kind="message", type="text", source_id=wamid, sent_at=from_unix(1764350000),
        captured_at="", sender=Party(WA, name), recipients=(Party(pnid),), text=text,
        raw={"id": wamid},
    )


def status(pnid, wamid, value):
    return Record(
        conversation=make_conversation_id(pnid, WA), platform="whatsapp", direction="outbound",
        kind="status", type=None, source_id=wamid, sent_at=from_unix(1764350100),
        captured_at="", sender=Party(pnid), recipients=(Party(WA),), status=value,
        raw={"id": wamid, "status": value},
    )


async def test_draft(world):
    svc = await world.start_service()
    await world.register(svc)
    await world.setup_inbox(svc)
    pnid = world.meta.phone_number_id
    await world.inject(svc, [inbound(pnid, "Hello, is my order ready?", "wamid.A1")])
    thread = await wait_for(lambda: next(iter(world.connector.threads), None), what="thread")
    assert "Hello, is my order ready?" in world.connector.threads[thread].shown_text()
    st = await world.teams(svc, ANN.channel_message("Yes, tomorrow", service_url=world.connector.url,
                                                    channel_id=CHANNEL, thread_id=thread, mention_bot=True))
    assert st in (200, 201), st
    assert world.meta.sent and world.meta.sent[0]["text"]["body"] == "Yes, tomorrow"
    records = await world.records(svc)
    sent = [r for r in records if r.platform == "whatsapp" and r.direction == "outbound" and r.kind == "message"]
    wamid = sent[0].source_id
    await world.inject(svc, [status(pnid, wamid, "delivered")])
    await wait_for(lambda: any("Delivered" in p.shown_text() for p in world.connector.posts_in(thread)), what="update")
    for r in records:
        print(r.platform, r.direction, r.kind, r.type, r.source_id, r.relates_to, r.text)
