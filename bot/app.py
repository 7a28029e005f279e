"""The aiohttp application factory. One app per ``Settings``; no module-level state."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.governance.service import install_governance
from bot.settings import Settings
from bridge.archive import Archive
from bridge.errors import ArchiveUnavailable
from bridge.store.base import ArchiveStore

log = logging.getLogger("wabridge")

ARCHIVE = web.AppKey("archive", Archive)
SETTINGS = web.AppKey("settings", Settings)
#: Callbacks run with each inbound delivery's durable records (see ``bot.ports.InboundListener``).
INBOUND_LISTENERS = web.AppKey("inbound_listeners", list)
#: Governance at the moment of sending (``bot.ports.OutboundGate``): the registry of
#: authorized users, the policy acknowledgement and the lexicon (``bot.governance.gate``).
OUTBOUND_GATE = web.AppKey("outbound_gate", object)
#: The Teams relay's parts (``bot.relay.service.Relay``).
RELAY = web.AppKey("relay", object)

#: Meta documents webhook payloads of up to 3 MB; accept 3 MiB and refuse larger with 413.
MAX_BODY = 3 * 1024 * 1024


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    archive = request.app[ARCHIVE]
    try:
        await archive.store.ensure_ready()
    except ArchiveUnavailable as exc:
        return web.json_response({"status": "unavailable", "archive": str(exc)}, status=503)
    return web.json_response({"status": "ready"})


def create_app(settings: Settings, *, store: ArchiveStore | None = None) -> web.Application:
    """Build the service: archive, routes, background workers."""
    app = web.Application(client_max_size=MAX_BODY + 1024)
    app[SETTINGS] = settings
    app[ARCHIVE] = Archive(store or settings.archive.open_store())
    app[INBOUND_LISTENERS] = []
    from bot.relay.service import install_relay

    app[OUTBOUND_GATE] = install_governance(app, settings, app[ARCHIVE])
    app[RELAY] = install_relay(app, settings, app[ARCHIVE], gate_key=OUTBOUND_GATE,
                               listeners=app[INBOUND_LISTENERS])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)

    from bot.whatsapp.webhook import setup_whatsapp

    setup_whatsapp(app)

    async def startup(app: web.Application) -> None:
        try:
            await app[ARCHIVE].store.ensure_ready()
        except ArchiveUnavailable as exc:
            # Keep running: /readyz reports it and writes answer 5xx until storage is back.
            log.warning("archive not reachable at start-up: %s", exc)

    async def cleanup(app: web.Application) -> None:
        await app[ARCHIVE].close()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    _install_checkpoints(app, settings)
    return app


def _install_checkpoints(app: web.Application, settings: Settings) -> None:
    """The periodic checkpoint writer (DESIGN.md §3.8), when an anchor is configured."""
    from bridge.anchor.writer import CheckpointWriter

    anchor = settings.archive.open_anchor(app[ARCHIVE].store)
    if anchor is None:
        log.warning(
            "WABRIDGE_ANCHOR_URL is not set: no checkpoints of the ledger are written, so "
            "nothing outside the archive vouches for it%s",
            "" if settings.dev_mode else " (set it in production: README, Configuration)",
        )
        return
    writer = CheckpointWriter(app[ARCHIVE], anchor, interval=settings.checkpoint_seconds)
    log.info("checkpoints every %gs into %s", settings.checkpoint_seconds, anchor.description)

    async def start(app: web.Application) -> None:
        writer.start()

    async def stop(app: web.Application) -> None:
        await writer.stop()
        await anchor.close()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)
