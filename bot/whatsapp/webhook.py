"""The WhatsApp webhook transport: ``GET``/``POST /api/whatsapp`` (DESIGN.md §3.1, §4).

``GET`` answers Meta's subscription handshake. ``POST`` checks ``X-Hub-Signature-256`` over the
raw bytes (constant-time) before anything is parsed, refuses bodies over 3 MiB, converts the
delivery with the pure converter, and answers 200 only once every record is durable (and the
media is stored or durably pending). Storage trouble answers 503 within the archive budget, so
Meta retries; a retry maps onto the same records.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import time
from dataclasses import dataclass

from aiohttp import web

from bot.app import ARCHIVE, INBOUND_LISTENERS, MAX_BODY, OUTBOUND_GATE, SETTINGS
from bot.governance.inbound import flag_items
from bot.whatsapp.client import CloudApiClient
from bot.whatsapp.media import MediaCapture
from bridge.convert.whatsapp import convert_delivery
from bridge.errors import ArchiveError
from bridge.record import now_rfc3339

log = logging.getLogger("wabridge.webhook")

WHATSAPP_CLIENT = web.AppKey("whatsapp_client", CloudApiClient)
MEDIA_CAPTURE = web.AppKey("media_capture", MediaCapture)
#: Everything before the 200 (records, media pending list) must fit in this, so that Meta gets
#: its answer (5xx on storage trouble) well within 15 s.
ARCHIVE_BUDGET = 12.0
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: Deliveries being archived at once, per instance, unless ``WABRIDGE_MAX_INFLIGHT_DELIVERIES``
#: says otherwise. Beyond it a delivery is answered 503 at once (Meta retries it) instead of
#: queueing behind the others: when storage slows down, the deliveries admitted still finish
#: within the budget rather than all of them timing out together.
MAX_INFLIGHT = 64
#: Meta's deliveries nest about ten levels deep; anything far deeper is refused with 400 rather
#: than handed to recursive code (the JSON decoder, the canonical encoder) that would fail.
MAX_DEPTH = 64


@dataclass
class Admission:
    """How many deliveries this instance is archiving now, and how many it may."""

    limit: int = MAX_INFLIGHT
    active: int = 0


ADMISSION = web.AppKey("webhook_admission", Admission)


def setup_whatsapp(app: web.Application) -> None:
    """Add the webhook routes, the Cloud API client and the media worker to ``app``."""
    settings = app[SETTINGS]
    app[WHATSAPP_CLIENT] = CloudApiClient.from_settings(settings)
    app[MEDIA_CAPTURE] = MediaCapture(
        app[ARCHIVE], app[WHATSAPP_CLIENT], settings.media
    )
    app[ADMISSION] = Admission(settings.webhook.max_inflight)
    app.router.add_get("/api/whatsapp", handle_verify)
    app.router.add_post("/api/whatsapp", handle_delivery)

    async def start_worker(app: web.Application) -> None:
        app[MEDIA_CAPTURE].start()

    async def stop_worker(app: web.Application) -> None:
        await app[MEDIA_CAPTURE].stop()
        await app[WHATSAPP_CLIENT].close()

    app.on_startup.append(start_worker)
    app.on_cleanup.insert(0, stop_worker)


async def handle_verify(request: web.Request) -> web.Response:
    """Meta's subscription handshake: 200 with exactly ``hub.challenge``, else 403."""
    expected = request.app[SETTINGS].whatsapp_verify_token
    query = request.query
    token = query.get("hub.verify_token", "")
    challenge = query.get("hub.challenge")
    if (
        expected
        and query.get("hub.mode") == "subscribe"
        and challenge is not None
        and hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))
    ):
        return web.Response(text=challenge, content_type="text/plain")
    return web.Response(status=403, text="verification refused")


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """``sha256=<hex>`` of the raw body under the app secret, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.strip().lower().encode("ascii", "replace"), expected.encode())


def _not_json(constant: str) -> None:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259) and cannot be archived canonically."""
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def nesting_depth(value: object) -> int:
    """How deeply lists and objects nest in a parsed JSON value (iteratively: no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node if isinstance(child, dict | list))
    return deepest


async def read_limited(request: web.Request, limit: int = MAX_BODY) -> bytes | None:
    """The raw body, or None if it is larger than ``limit`` (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def archive_delivery(request: web.Request, payload: object) -> list | None:
    """Archive the delivery's records (and its media, or a durable pending entry) within the
    budget; None if the archive is unavailable."""
    items = convert_delivery(payload, received_at=now_rfc3339())
    items = flag_items(items, request.app.get(OUTBOUND_GATE))  # lexicon findings on inbound text
    archive = request.app[ARCHIVE]
    capture = request.app[MEDIA_CAPTURE]
    try:
        async with asyncio.timeout(ARCHIVE_BUDGET):
            results = await archive.put_many(items)
            stored = [r.record for r in results]
            await capture.capture(stored)
    except (ArchiveError, TimeoutError) as exc:
        log.warning(
            "webhook: archive unavailable, answering 503 (%d records): %s",
            len(items),
            str(exc) or f"{type(exc).__name__} (timed out)",
        )
        return None
    return stored


async def handle_delivery(request: web.Request) -> web.Response:
    """One webhook delivery: verify, parse, archive, fetch media, notify, then 200."""
    started = time.monotonic()
    settings = request.app[SETTINGS]
    body = await read_limited(request)
    if body is None:
        log.warning("webhook refused: body over %d bytes", MAX_BODY)
        return web.Response(status=413, text="payload too large")
    secret = settings.whatsapp_app_secret
    if secret:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            log.warning("webhook refused: no %s (%d bytes)", SIGNATURE_HEADER, len(body))
            return web.Response(status=401, text="signature required")
        if not signature_ok(body, header, secret):
            log.warning("webhook refused: bad signature (%d bytes)", len(body))
            return web.Response(status=403, text="signature mismatch")
    elif not settings.dev_mode:
        log.error("webhook refused: WHATSAPP_APP_SECRET is not set")
        return web.Response(status=403, text="webhook secret not configured")
    try:
        payload = json.loads(body, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, UnicodeDecodeError):
        return web.Response(status=400, text="body is not JSON")
    except RecursionError:
        payload, too_deep = None, True
    else:
        too_deep = nesting_depth(payload) > MAX_DEPTH
    if too_deep:
        log.warning("webhook refused: JSON nested deeper than %d levels", MAX_DEPTH)
        return web.Response(status=400, text=f"JSON nested deeper than {MAX_DEPTH} levels")

    admission = request.app[ADMISSION]
    if admission.active >= admission.limit:
        log.warning("webhook: busy (%d deliveries being archived), answering 503", admission.active)
        return web.Response(status=503, text="busy, retry later", headers={"Retry-After": "5"})
    admission.active += 1
    try:
        stored = await archive_delivery(request, payload)
    finally:
        admission.active -= 1
    if stored is None:
        return web.Response(status=503, text="archive unavailable, retry later")

    for listener in request.app[INBOUND_LISTENERS]:
        try:
            await listener(stored)
        except ArchiveError as exc:
            # Listeners queue durable work (the relay to Teams) in the archive's storage: if
            # that failed, Meta must retry. The records are already stored and dedupe.
            log.warning("webhook: queuing follow-up work failed, answering 503: %s", exc)
            return web.Response(status=503, text="archive unavailable, retry later")
        except Exception:  # noqa: BLE001 - a bug in a listener must not lose the delivery's 200
            log.exception("inbound listener %r failed", listener)
    log.debug(
        "webhook: %d record(s) archived in %.1f ms",
        len(stored),
        (time.monotonic() - started) * 1000,
    )
    return web.Response(text="EVENT_RECEIVED")
