"""Plays a short conversation both ways through a real running service.

The service runs exactly as ``wabridge serve`` would, on a local archive directory; Meta's Graph
API and the Teams Bot Connector are loopback stand-ins (``bot.loopback``) on 127.0.0.1, so no
account, network or secret is needed. Every step goes over real HTTP: signed webhooks in,
Bot Framework activities in, Cloud API sends and Bot Connector posts out.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.app import SERVICE, create_app
from bot.loopback.connector import FakeBotConnector, TeamsUser, post_activity
from bot.loopback.deliveries import delivery, post_webhook, status_delivery, text_delivery
from bot.loopback.polling import eventually
from bot.loopback.server import LoopbackServer
from bot.settings import Settings
from bridge.governance.registry import Member, UserRegistry

CHANNEL = "19:whatsapp-inbox@thread.tacv2"
CONTACT = "15555550123"
CONTACT_NAME = "Ana Pereira"
EMPLOYEE = TeamsUser(
    "6f1c2d3e-0000-4000-8000-00000000a11c", "Alice Adviser", "alice@contoso.example"
)
#: A tiny valid PNG (1x1 pixel) the contact "sends".
PICTURE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def say(step: str) -> None:
    print(f"  {step}", flush=True)


async def play(archive_dir: str) -> None:
    """Run the service and the stand-ins, play the conversation, stop everything."""
    meta = await _start_meta()
    connector = await FakeBotConnector().start()
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
            "WHATSAPP_VERIFY_TOKEN": "demo",
            "WABRIDGE_RELAY_POLL_SECONDS": "0.2",
        }
    )
    app = create_app(settings)
    service = await LoopbackServer(app, port=port).start()
    archive = app[SERVICE].archive
    threads = app[SERVICE].threads
    try:
        async with aiohttp.ClientSession() as http:
            print(f"wabridge demo: service on {service.url}, archive {archive_dir}")
            print(f"  (stand-ins: Meta Graph API {meta.base_url}, Bot Connector {connector.url})")
            await UserRegistry(archive).add(
                Member(EMPLOYEE.object_id, EMPLOYEE.upn, EMPLOYEE.name), by="wabridge demo"
            )
            say(f"authorized employee {EMPLOYEE.upn} (like `wabridge users add`; no policy file)")

            await post_activity(
                http,
                service.url,
                EMPLOYEE.channel_message(
                    "setup", service_url=connector.url, channel_id=CHANNEL, mention_bot=True
                ),
            )
            say(f"Teams  > {EMPLOYEE.name} in the inbox channel: @wabridge setup")
            say(f"Teams  < bot: {connector.posts[-1].shown_text()}")

            await _webhook(
                http,
                service.url,
                meta,
                text_delivery(
                    meta.phone_number_id,
                    CONTACT,
                    "Hi! Is my order 1042 on its way?",
                    name=CONTACT_NAME,
                    wamid="wamid.demo.in.1",
                    timestamp=int(time.time()) - 60,
                ),
            )
            say(f"WhatsApp > {CONTACT_NAME} (+{CONTACT}): Hi! Is my order 1042 on its way?")
            thread = await _until(lambda: next(iter(connector.threads), None))
            await _until(lambda: threads.of_teams_thread(thread))
            say(f"Teams  < new thread in the inbox: {_one_line(connector.threads[thread])}")

            picture = meta.add_media(PICTURE, "image/png")
            await _webhook(
                http,
                service.url,
                meta,
                delivery(
                    meta.phone_number_id,
                    {
                        "contacts": [{"profile": {"name": CONTACT_NAME}, "wa_id": CONTACT}],
                        "messages": [
                            {
                                "from": CONTACT,
                                "id": "wamid.demo.in.2",
                                "timestamp": str(int(time.time()) - 30),
                                "type": "image",
                                "image": {
                                    "id": picture.media_id,
                                    "mime_type": "image/png",
                                    "sha256": picture.sha256_b64,
                                    "caption": "the label on the box",
                                },
                            }
                        ],
                    },
                ),
            )
            say(f"WhatsApp > {CONTACT_NAME}: [image] the label on the box")
            image_post = await _until(lambda: _nth(connector.posts_in(thread), 1))
            link = image_post.activity["attachments"][0]["content"]["body"][0]["url"]
            say(f"Teams  < reply in the thread: {image_post.activity['text']} [image inline]")
            say(f"         image link (signed, served from the archive): {link.split('?')[0]}")

            sent_text = "It left our warehouse this morning and arrives tomorrow."
            reply = EMPLOYEE.channel_message(
                sent_text,
                service_url=connector.url,
                channel_id=CHANNEL,
                thread_id=thread,
                mention_bot=True,
            )
            await post_activity(http, service.url, reply)
            say(f"Teams  > {EMPLOYEE.name} replies in the thread: @wabridge {sent_text}")
            sent = meta.sent[-1]
            say(f"WhatsApp < Cloud API send to +{sent['to']}: {sent['text']['body']}")
            card = await _until(
                lambda: next(
                    (p for p in connector.posts_in(thread) if "to +" in p.shown_text()), None
                )
            )
            say(f"Teams  < status card: {_one_line(card)}")

            wamid = await _sent_wamid(archive)
            for status in ("delivered", "read"):
                await _webhook(
                    http,
                    service.url,
                    meta,
                    status_delivery(
                        meta.phone_number_id, wamid, status, CONTACT, timestamp=int(time.time())
                    ),
                )
                await _until(lambda status=status: status.capitalize() in card.shown_text())
                say(f"WhatsApp > status {status}; Teams card now: {_one_line(card)}")
    finally:
        await service.stop()
        await connector.stop()
        await meta.stop()


async def _start_meta():
    from bot.loopback.meta_graph import MetaGraphFake

    return await MetaGraphFake(
        access_token="demo-access-token", app_secret="demo-app-secret"
    ).start()


async def _webhook(http: aiohttp.ClientSession, url: str, meta: Any, payload: dict) -> None:
    status, text = await post_webhook(
        http, f"{url}/api/whatsapp", payload, app_secret=meta.app_secret
    )
    if status != 200:
        raise RuntimeError(f"the webhook answered {status}: {text}")


async def _sent_wamid(archive) -> str:
    from bridge.record import Record

    async for _name, data in archive.iter_records():
        record = Record.from_bytes(data)
        if (
            record.platform == "whatsapp"
            and record.direction == "outbound"
            and record.kind == "message"
        ):
            return record.source_id or ""
    raise RuntimeError("the reply was not archived")


async def _until(predicate: Callable[[], Any]) -> Any:
    return await eventually(predicate, limit=30.0, what="the demo's next step")


def _nth(items: list, index: int):
    return items[index] if len(items) > index else None


def _one_line(post) -> str:
    return " | ".join(line.strip() for line in post.shown_text().splitlines() if line.strip())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(archive_dir: str) -> None:
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(play(archive_dir))
