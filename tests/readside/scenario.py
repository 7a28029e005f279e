"""A conversation a reviewer would check, played through the real running service.

The service runs as ``wabridge serve`` would, on a local archive; Meta's Graph API and the Bot
Connector are the loopback stand-ins, over real HTTP. Both sides talk: the contact writes (with
Markdown and HTML of their own), sends a picture, edits and deletes messages and reacts; an
employee answers in Teams, edits a reply there; one send is delivered and read, one fails at
once, one fails later by status. Times are fixed (July 2026, when London is at +01:00).

``python -m tests.readside.scenario DIR live`` plays it into DIR as it happens (the README's
screenshot).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.app import SERVICE, create_app
from bot.loopback.connector import FakeBotConnector, TeamsUser, post_activity
from bot.loopback.deliveries import delivery, error_131047, post_webhook, status_delivery
from bot.loopback.meta_graph import MetaGraphFake
from bot.loopback.polling import eventually
from bot.loopback.server import LoopbackServer
from bot.settings import Settings
from bridge.governance.registry import Member, UserRegistry
from bridge.record import Record, rfc3339
from tests.readside.support import _png

CHANNEL = "19:whatsapp-inbox@thread.tacv2"
CONTACT = "447700900123"
CONTACT_NAME = "Zoë Müller"
EMPLOYEE = TeamsUser(
    "6f1c2b9e-0d4a-4c1e-9a57-3b2f1d0e8c11", "Dana Trader", "dana.trader@contoso.com"
)
#: 2026-07-01 09:00:00 UTC (10:00 in London).
T0 = 1782896400
#: The contact's events the bot posts into Teams: two messages, a reaction, an edit, a deletion.
RELAYED = 5
FIRST_TEXT = "Hi! Can you *confirm* the **bond** price? <b>not bold</b>"
EDITED_TEXT = "Hi! Can you confirm the bond price for the 2027 series?"


def _page(x: int, y: int, width: int = 240, height: int = 150) -> tuple[int, int, int]:
    """A printed page: a green frame and lines of text."""
    if x < 6 or x >= width - 6 or y < 6 or y >= height - 6:
        return (7, 94, 84)
    if y % 14 in (0, 1, 2) and 20 <= x < width - (20 + (y * 7) % 60):
        return (90, 90, 90)
    return (250, 250, 245)


PICTURE = _png(240, 150, _page)


@dataclass
class Played:
    """What happened, by name, with the archive records it left (by type of event)."""

    archive_dir: str
    wamids: dict[str, str] = field(default_factory=dict)
    activities: dict[str, str] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _inbound(meta: MetaGraphFake, message: dict[str, Any]) -> dict[str, Any]:
    return delivery(
        meta.phone_number_id,
        {
            "contacts": [{"profile": {"name": CONTACT_NAME}, "wa_id": CONTACT}],
            "messages": [{"from": CONTACT, **message}],
        },
    )


async def _records(archive) -> list[Record]:
    return [Record.from_bytes(data) async for _name, data in archive.iter_records()]


async def play(archive_dir: str, live: bool = False) -> Played:
    """Play the conversation into ``archive_dir``: at fixed times from :data:`T0`, or (``live``)
    each step at the moment it is played, as the service stamps its own records."""

    async def later() -> None:
        if live:  # a second between steps, so the times read as a conversation
            await asyncio.sleep(1)

    def when(offset: int) -> int:
        return int(time.time()) if live else T0 + offset

    meta = await MetaGraphFake(access_token="review-token", app_secret="review-secret").start()
    connector = await FakeBotConnector().start()
    connector.add_member(EMPLOYEE.object_id, EMPLOYEE.name, EMPLOYEE.upn)
    port = _free_port()
    settings = Settings.from_env(
        {
            "WABRIDGE_DEV_MODE": "1",
            "ARCHIVE_URL": archive_dir,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WHATSAPP_GRAPH_URL": meta.base_url,
            "WHATSAPP_ACCESS_TOKEN": meta.access_token,
            "WHATSAPP_PHONE_NUMBER_ID": meta.phone_number_id,
            "WHATSAPP_APP_SECRET": meta.app_secret,
            "WHATSAPP_VERIFY_TOKEN": "review",
            "WABRIDGE_RELAY_POLL_SECONDS": "0.1",
            "WABRIDGE_SEND_RETRY_SECONDS": "0.05",
        }
    )
    app = create_app(settings)
    service = await LoopbackServer(app, port=port).start()
    archive = app[SERVICE].archive
    played = Played(archive_dir)

    async def until(predicate, what: str):
        return await eventually(predicate, limit=30.0, what=what)

    async def webhook(payload: dict[str, Any]) -> None:
        status, text = await post_webhook(
            http, f"{service.url}/api/whatsapp", payload, app_secret=meta.app_secret
        )
        assert status == 200, text

    async def teams(activity: dict[str, Any], at: int) -> None:
        activity["timestamp"] = rfc3339(_at(at))
        await post_activity(http, service.url, activity)

    async def archived(predicate, what: str) -> Record:
        async def find():
            return next((r for r in await _records(archive) if predicate(r)), None)

        return await until(find, what)

    try:
        async with aiohttp.ClientSession() as http:
            await UserRegistry(archive).add(
                Member(EMPLOYEE.object_id, EMPLOYEE.upn, EMPLOYEE.name), by="review scenario"
            )
            await teams(
                EMPLOYEE.channel_message(
                    "setup", service_url=connector.url, channel_id=CHANNEL, mention_bot=True
                ),
                when(-600),
            )
            played.wamids["first"] = "wamid.review.in.1"
            await later()
            await webhook(
                _inbound(
                    meta,
                    {
                        "id": played.wamids["first"],
                        "timestamp": str(when(0)),
                        "type": "text",
                        "text": {"body": FIRST_TEXT},
                    },
                )
            )
            thread = await until(lambda: next(iter(connector.threads), None), "the thread")
            picture = meta.add_media(PICTURE, "image/png")
            played.wamids["picture"] = "wamid.review.in.2"
            await later()
            await webhook(
                _inbound(
                    meta,
                    {
                        "id": played.wamids["picture"],
                        "timestamp": str(when(60)),
                        "type": "image",
                        "image": {
                            "id": picture.media_id,
                            "mime_type": "image/png",
                            "sha256": picture.sha256_b64,
                            "caption": "the term sheet",
                        },
                    },
                )
            )

            async def reply(key: str, text: str, at: int) -> Record:
                activity = EMPLOYEE.channel_message(
                    text,
                    service_url=connector.url,
                    channel_id=CHANNEL,
                    thread_id=thread,
                    mention_bot=True,
                )
                played.activities[key] = activity["id"]
                await later()
                await teams(activity, at)
                return await archived(
                    lambda r: (
                        r.platform == "teams"
                        and r.kind == "message"
                        and r.source_id == activity["id"]
                    ),
                    f"the employee's {key}",
                )

            employee = await reply("price", "The price is 98.25.", when(120))
            send = await archived(
                lambda r: r.platform == "whatsapp" and r.relates_to == employee.id, "the send"
            )
            played.wamids["price"] = send.source_id or ""
            for status, offset in (("delivered", 130), ("read", 140)):
                await later()
                await webhook(
                    status_delivery(
                        meta.phone_number_id,
                        send.source_id,
                        status,
                        CONTACT,
                        timestamp=when(offset),
                    )
                )
            await later()
            await webhook(
                _inbound(
                    meta,
                    {
                        "id": "wamid.review.in.3",
                        "timestamp": str(when(150)),
                        "type": "reaction",
                        "reaction": {"message_id": send.source_id, "emoji": "👍"},
                    },
                )
            )
            await later()
            await webhook(
                _inbound(
                    meta,
                    {
                        "id": "wamid.review.in.4",
                        "timestamp": str(when(160)),
                        "type": "edit",
                        "edit": {
                            "original_message_id": played.wamids["first"],
                            "message": {"type": "text", "text": {"body": EDITED_TEXT}},
                        },
                    },
                )
            )
            await later()
            await webhook(
                _inbound(
                    meta,
                    {
                        "id": "wamid.review.in.5",
                        "timestamp": str(when(170)),
                        "type": "revoke",
                        "revoke": {"original_message_id": played.wamids["picture"]},
                    },
                )
            )
            edit = EMPLOYEE.channel_edit(
                played.activities["price"],
                "The price is 98.25 (indicative).",
                service_url=connector.url,
                channel_id=CHANNEL,
                thread_id=thread,
            )
            await later()
            await teams(edit, when(180))
            await archived(lambda r: r.kind == "edit" and r.platform == "teams", "the Teams edit")
            late = await reply("late", "Are you still there?", when(190))
            late_send = await archived(
                lambda r: r.platform == "whatsapp" and r.relates_to == late.id, "the second send"
            )
            played.wamids["late"] = late_send.source_id or ""
            await later()
            await webhook(
                status_delivery(
                    meta.phone_number_id,
                    late_send.source_id,
                    "failed",
                    CONTACT,
                    timestamp=when(200),
                    errors=[error_131047()],
                )
            )
            meta.fail_sends(131026, to=CONTACT, times=1, message="Message undeliverable")
            refused = await reply("refused", "Hello?", when(210))
            await archived(
                lambda r: r.kind == "error" and r.relates_to == refused.id, "the refused send"
            )
            await archived(
                lambda r: r.kind == "status" and r.status == "failed", "the failed status"
            )
            await archived(lambda r: r.kind == "delete", "the deletion")

            async def relayed():  # every inbound event shown in Teams (the relay is async)
                posts = [r for r in await _records(archive) if r.type == "relay"]
                return len(posts) >= RELAYED

            await until(relayed, "the Teams posts of the contact's five events")
    finally:
        await service.stop()
        await connector.stop()
        await meta.stop()
    return played


def _at(seconds: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, tz=UTC)


def play_sync(archive_dir: str, live: bool = False) -> Played:
    return asyncio.run(play(archive_dir, live))


if __name__ == "__main__":
    # python -m tests.readside.scenario DIR [live]
    print(play_sync(sys.argv[1], sys.argv[2:] == ["live"]))
