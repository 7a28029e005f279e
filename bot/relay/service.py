"""Wiring of the relay into the aiohttp app: adapter, bot, workers, routes, listener."""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter

from bot.ports import OutboundGate, WhatsAppSender
from bot.relay.inbound import InboundRelay, open_thread_for_new_contact
from bot.relay.media_links import MediaLinks
from bot.relay.outbound import OutboundRelay
from bot.relay.templates import Template, load_templates
from bot.settings import ConfigError, Settings
from bot.teams.adapter import create_adapter, messages_route
from bot.teams.handler import WabridgeBot
from bot.teams.sender import BotConnectorSender
from bridge.archive import Archive

log = logging.getLogger("wabridge.relay")


@dataclass
class Relay:
    """The relay's parts of one app (see ``install_relay``)."""

    adapter: CloudAdapter
    bot: WabridgeBot
    inbound: InboundRelay
    outbound: OutboundRelay
    links: MediaLinks
    templates: dict[str, Template]


def install_relay(
    app: web.Application,
    settings: Settings,
    archive: Archive,
    *,
    gate_key: web.AppKey,
    listeners: list,
) -> Relay:
    """Add ``POST /api/messages``, ``GET /api/media/{sha256}``, the inbound listener and the
    relay worker to ``app``. The outbound gate is read from ``app[gate_key]`` at each use, so
    governance may set it after this call."""
    try:
        templates = load_templates(settings.relay.templates_file)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    public_url = settings.public_url()
    adapter = create_adapter(settings)

    def make_sender(where: dict[str, Any]) -> BotConnectorSender:
        return BotConnectorSender(
            adapter,
            app_id=settings.app_id,
            service_url=where["service_url"],
            tenant_id=where.get("tenant_id"),
            bot_id=where.get("bot_id"),
        )

    links = MediaLinks(archive, public_url)

    def whatsapp() -> WhatsAppSender:
        from bot.whatsapp.webhook import WHATSAPP_CLIENT  # set up with the webhook

        return app[WHATSAPP_CLIENT]

    def gate() -> OutboundGate:
        return app[gate_key]

    inbound = InboundRelay(
        archive,
        make_sender,
        links,
        lambda: templates,
        poll_interval=settings.relay.poll_seconds,
    )
    retry = settings.relay.send_retry_seconds
    outbound = OutboundRelay(
        archive,
        whatsapp=whatsapp,
        gate=gate,
        templates=lambda: templates,
        make_sender=make_sender,
        business_number_id=settings.whatsapp_phone_number_id,
        bot_token=functools.partial(_bot_token, settings),
        retry_delays=(retry, retry * 2, retry * 4),
    )
    bot = WabridgeBot(
        archive,
        outbound,
        templates=lambda: templates,
        business_number_id=settings.whatsapp_phone_number_id,
        open_thread=functools.partial(open_thread_for_new_contact, inbound),
        inbox_bound=functools.partial(inbound.wake, now=True),
    )
    relay = Relay(adapter, bot, inbound, outbound, links, templates)
    app.router.add_post(
        "/api/messages",
        messages_route(adapter, bot, archive=archive, tenant_id=settings.app_tenant_id),
    )
    app.router.add_get("/api/media/{sha256}", links.handle)
    listeners.append(inbound.enqueue)

    async def startup(app: web.Application) -> None:
        inbound.start()

    async def cleanup(app: web.Application) -> None:
        await inbound.stop()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    return relay


async def _bot_token(settings: Settings) -> str | None:
    """The bot's Bot Framework token (for attachment downloads); None without an identity."""
    if not settings.app_id or not settings.app_password:
        return None
    from botframework.connector.auth import MicrosoftAppCredentials

    credentials = MicrosoftAppCredentials(
        settings.app_id,
        settings.app_password,
        channel_auth_tenant=settings.app_tenant_id or None,
    )
    return await asyncio.to_thread(credentials.get_access_token)

