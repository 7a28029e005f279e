"""The aiohttp application factory: the one place that builds the adapters and the core and
wires them together (``create_app(settings)``). One app per ``Settings``; no module-level state.

Transports (``bot/teams``, ``bot/whatsapp``, ``bot/entra``) and the core (``bot/relay``,
``bot/capture``, ``bot/governance``) never import each other: each gets what it needs here, as
constructor arguments typed by the ports (``bot/ports.py``). See docs/architecture.md.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter

from bot.capture.ingest import Ingest
from bot.capture.media import MediaCapture
from bot.entra.directory import GraphDirectory, make_credential
from bot.governance.service import build_gate, scheduled_sync
from bot.governance.sync import ScheduledSync
from bot.ports import OutboundGate
from bot.relay.employees import EmployeeActions
from bot.relay.feed import LedgerFeed
from bot.relay.inbox import InboxCache
from bot.relay.media_links import MediaLinks
from bot.relay.outbound import OutboundRelay
from bot.relay.parked import ParkedQueues
from bot.relay.posting import InboundPoster
from bot.relay.templates import TemplateError, load_templates
from bot.relay.threads import ThreadMap
from bot.relay.worker import RelayWorker
from bot.settings import ConfigError, Settings
from bot.teams.adapter import create_adapter, messages_route
from bot.teams.files import TeamsFileFetcher
from bot.teams.handler import WabridgeBot
from bot.teams.media_route import media_route
from bot.teams.sender import BotConnectorPoster
from bot.whatsapp.client import CloudApiClient
from bot.whatsapp.webhook import MAX_BODY, WhatsAppWebhook
from bridge.anchor.writer import CheckpointWriter
from bridge.archive import Archive
from bridge.errors import ArchiveUnavailable
from bridge.store.base import ArchiveStore

log = logging.getLogger("wabridge")

__all__ = ["MAX_BODY", "SERVICE", "Service", "create_app"]


@dataclass
class Service:
    """The parts of one running service, as ``create_app`` wired them (``app[SERVICE]``)."""

    settings: Settings
    archive: Archive
    gate: OutboundGate
    whatsapp: CloudApiClient
    media: MediaCapture
    ingest: Ingest
    webhook: WhatsAppWebhook
    poster: BotConnectorPoster
    adapter: CloudAdapter
    relay: RelayWorker
    threads: ThreadMap
    outbound: OutboundRelay
    actions: EmployeeActions
    links: MediaLinks
    sync: ScheduledSync | None = None
    #: The periodic checkpoint writer (DESIGN.md §3.8); None when no anchor is configured.
    checkpoints: CheckpointWriter | None = None


SERVICE = web.AppKey("service", Service)


def create_app(
    settings: Settings,
    *,
    store: ArchiveStore | None = None,
    gate: OutboundGate | None = None,
) -> web.Application:
    """Build the service: archive, adapters, core, routes and background workers.

    ``store`` and ``gate`` replace the archive's store and governance's gate (for tests and
    tools that bring their own)."""
    app = web.Application(client_max_size=MAX_BODY + 1024)
    archive = Archive(store or settings.archive.open_store())
    service = build_service(settings, archive, gate=gate)
    app[SERVICE] = service
    service.webhook.add_routes(app)
    bot = WabridgeBot(service.actions)
    app.router.add_post(
        "/api/messages",
        messages_route(
            service.adapter,
            bot,
            tenant_id=settings.app_tenant_id,
            on_foreign_tenant=service.actions.foreign_tenant,
        ),
    )
    app.router.add_get("/api/media/{sha256}", media_route(service.archive.store, service.links))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    return app


def build_service(
    settings: Settings, archive: Archive, *, gate: OutboundGate | None = None
) -> Service:
    try:
        templates = load_templates(settings.relay.templates_file)
    except TemplateError as exc:
        raise ConfigError(str(exc)) from None
    instance = uuid.uuid4().hex
    gate = gate or build_gate(settings, archive)
    whatsapp = CloudApiClient.from_settings(settings)
    media = MediaCapture(archive, whatsapp, settings.media)
    adapter = create_adapter(settings)
    poster = BotConnectorPoster(adapter, app_id=settings.app_id)
    inbox = InboxCache(archive.store, ttl=settings.relay.poll_seconds)
    threads = ThreadMap(archive.store, poster, instance=instance)
    links = MediaLinks(archive.store, settings.public_url())
    posting = InboundPoster(archive, poster, threads, inbox, links, lambda: templates)
    parked = ParkedQueues(archive, posting.show, instance=instance)
    relay = RelayWorker(
        archive,
        LedgerFeed(archive.store, instance),
        parked,
        posting,
        inbox,
        threads,
        poll_interval=settings.relay.poll_seconds,
    )
    retry = settings.relay.send_retry_seconds
    outbound = OutboundRelay(
        archive,
        whatsapp=whatsapp,
        gate=gate,
        poster=poster,
        files=TeamsFileFetcher(
            app_id=settings.app_id,
            app_password=settings.app_password,
            tenant_id=settings.app_tenant_id,
        ),
        templates=lambda: templates,
        business_number_id=settings.whatsapp_phone_number_id,
        retry_delays=(retry, retry * 2, retry * 4),
    )
    actions = EmployeeActions(
        archive,
        outbound,
        threads,
        inbox,
        templates=lambda: templates,
        business_number_id=settings.whatsapp_phone_number_id,
        tenant_id=settings.app_tenant_id,
        inbox_bound=lambda: relay.wake(now=True),
    )
    ingest = Ingest(archive, media, gate, listeners=[relay.offer])
    webhook = WhatsAppWebhook(
        ingest,
        app_secret=settings.whatsapp_app_secret,
        verify_token=settings.whatsapp_verify_token,
        dev_mode=settings.dev_mode,
        max_inflight=settings.webhook.max_inflight,
    )

    def directory() -> GraphDirectory:
        return GraphDirectory(
            make_credential(settings.governance.credentials), base_url=settings.ms_graph_url
        )

    return Service(
        settings=settings,
        archive=archive,
        gate=gate,
        whatsapp=whatsapp,
        media=media,
        ingest=ingest,
        webhook=webhook,
        poster=poster,
        adapter=adapter,
        relay=relay,
        threads=threads,
        outbound=outbound,
        actions=actions,
        links=links,
        sync=scheduled_sync(settings, archive, directory),
        checkpoints=checkpoint_writer(settings, archive),
    )


def checkpoint_writer(settings: Settings, archive: Archive) -> CheckpointWriter | None:
    """The writer of a checkpoint every ``WABRIDGE_CHECKPOINT_SECONDS`` into the anchor; None
    (with a warning) when no anchor is configured. An anchor inside the archive, or otherwise
    unusable, is a ``ValueError`` naming the variable."""
    anchor = settings.archive.open_anchor(archive.store)
    if anchor is None:
        log.warning(
            "WABRIDGE_ANCHOR_URL is not set: no checkpoints of the ledger are written, so "
            "nothing outside the archive vouches for it%s",
            "" if settings.dev_mode else " (set it in production: README, Configuration)",
        )
        return None
    log.info("checkpoints every %gs into %s", settings.checkpoint_seconds, anchor.description)
    return CheckpointWriter(archive, anchor, interval=settings.checkpoint_seconds)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICE].archive.store.ensure_ready()
    except ArchiveUnavailable as exc:
        return web.json_response({"status": "unavailable", "archive": str(exc)}, status=503)
    return web.json_response({"status": "ready"})


async def _startup(app: web.Application) -> None:
    service = app[SERVICE]
    try:
        await service.archive.store.ensure_ready()
    except ArchiveUnavailable as exc:
        # Keep running: /readyz reports it and writes answer 5xx until storage is back.
        log.warning("archive not reachable at start-up: %s", exc)
    service.media.start()
    service.relay.start()
    if service.sync is not None:
        service.sync.start()
    if service.checkpoints is not None:
        service.checkpoints.start()


async def _cleanup(app: web.Application) -> None:
    service = app[SERVICE]
    await service.relay.stop()
    await service.media.stop()
    if service.sync is not None:
        await service.sync.stop()
    if service.checkpoints is not None:
        # After the relay and media have stopped: the last checkpoint covers what they wrote.
        await service.checkpoints.stop()
        await service.checkpoints.anchor.close()
    await service.whatsapp.close()
    await service.poster.close()
    await service.archive.close()
