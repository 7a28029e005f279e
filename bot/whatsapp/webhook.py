"""The WhatsApp webhook transport: ``GET``/``POST /api/whatsapp`` (DESIGN.md §3.1, §4).

``GET`` answers Meta's subscription handshake. ``POST`` checks ``X-Hub-Signature-256`` over the
raw bytes (constant-time) before anything is parsed, refuses bodies over 3 MiB, parses the JSON
and converts the delivery with the pure converter, and hands the records to the core's
:class:`bot.ports.InboundIngest`. It answers 200 only once the core has made every record
durable (and the media stored or durably pending); storage trouble answers 503 within the
archive budget, so Meta retries, and a retry maps onto the same records.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time

from aiohttp import web

from bot.ports import InboundIngest
from bridge.convert.whatsapp import convert_delivery
from bridge.errors import ArchiveError
from bridge.record import now_rfc3339

log = logging.getLogger("wabridge.webhook")

#: Meta documents webhook payloads of up to 3 MB; accept 3 MiB and refuse larger with 413.
MAX_BODY = 3 * 1024 * 1024
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: Meta's deliveries nest about ten levels deep; anything far deeper is refused with 400 rather
#: than handed to recursive code (the JSON decoder, the canonical encoder) that would fail.
MAX_DEPTH = 64


class WhatsAppWebhook:
    """The webhook routes of one service, handing deliveries to ``ingest``.

    ``app_secret`` is checked on every delivery whenever it is set; without it only
    ``dev_mode`` accepts deliveries. At most ``max_inflight`` deliveries are archived at once:
    beyond that a delivery is answered 503 at once (Meta retries it) instead of queueing behind
    the others, so that when storage slows down the deliveries admitted still finish within the
    budget rather than all of them timing out together.
    """

    def __init__(
        self,
        ingest: InboundIngest,
        *,
        app_secret: str,
        verify_token: str,
        dev_mode: bool = False,
        max_inflight: int = 64,
    ) -> None:
        self._ingest = ingest
        self._secret = app_secret
        self._verify_token = verify_token
        self._dev_mode = dev_mode
        self.max_inflight = max_inflight
        self.active = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/whatsapp", self.handle_verify)
        app.router.add_post("/api/whatsapp", self.handle_delivery)

    async def handle_verify(self, request: web.Request) -> web.Response:
        """Meta's subscription handshake: 200 with exactly ``hub.challenge``, else 403."""
        expected = self._verify_token
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

    async def handle_delivery(self, request: web.Request) -> web.Response:
        """One webhook delivery: verify, parse, hand to the core, then 200."""
        started = time.monotonic()
        body = await read_limited(request)
        if body is None:
            log.warning("webhook refused: body over %d bytes", MAX_BODY)
            return web.Response(status=413, text="payload too large")
        refusal = self._refuse_unsigned(request, body)
        if refusal is not None:
            return refusal
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

        if self.active >= self.max_inflight:
            log.warning("webhook: busy (%d deliveries being archived), answering 503", self.active)
            return web.Response(status=503, text="busy, retry later", headers={"Retry-After": "5"})
        items = convert_delivery(payload, received_at=now_rfc3339())
        self.active += 1
        try:
            stored = await self._ingest.accept(items)
        except (ArchiveError, TimeoutError) as exc:
            log.warning(
                "webhook: archive unavailable, answering 503 (%d records): %s",
                len(items),
                str(exc) or f"{type(exc).__name__} (timed out)",
            )
            return web.Response(status=503, text="archive unavailable, retry later")
        finally:
            self.active -= 1
        log.debug(
            "webhook: %d record(s) archived in %.1f ms",
            len(stored),
            (time.monotonic() - started) * 1000,
        )
        return web.Response(text="EVENT_RECEIVED")

    def _refuse_unsigned(self, request: web.Request, body: bytes) -> web.Response | None:
        if self._secret:
            header = request.headers.get(SIGNATURE_HEADER)
            if not header:
                log.warning("webhook refused: no %s (%d bytes)", SIGNATURE_HEADER, len(body))
                return web.Response(status=401, text="signature required")
            if not signature_ok(body, header, self._secret):
                log.warning("webhook refused: bad signature (%d bytes)", len(body))
                return web.Response(status=403, text="signature mismatch")
        elif not self._dev_mode:
            log.error("webhook refused: WHATSAPP_APP_SECRET is not set")
            return web.Response(status=403, text="webhook secret not configured")
        return None


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
