"""A loopback stand-in for Meta's Graph API (WhatsApp Cloud API), as a real aiohttp server.

Used by ``wabridge demo`` and, through ``tests/fakes/meta_graph.py``, by the test suite.

Routes (under ``base_url``, which carries a version segment like Meta's ``/v23.0``):

- ``POST /{phone-number-id}/messages``: sends and mark-as-read; bearer-checked; every request is
  recorded; answers Meta's documented shape with a fresh ``wamid``.
- ``POST /{phone-number-id}/media``: multipart upload; answers ``{"id": media_id}``.
- ``GET /{media-id}``: media metadata (``url``, ``mime_type``, ``sha256``, ``file_size``, ``id``).
- ``GET /whatsapp_business/attachments/?mid=…`` (outside the version prefix, like Meta's
  lookaside host): the bytes, bearer-checked.

Failures are configurable per route, per recipient or media id, for N calls or for ever
(:meth:`MetaGraphFake.fail`). :mod:`bot.loopback.deliveries` makes, signs and delivers webhook
payloads to the service under test the way Meta does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_VERSION = "v23.0"
ROUTES = ("messages", "media_upload", "media_info", "download")

# Meta's documented error codes used by tests and their messages.
ERROR_MESSAGES = {
    131047: "Re-engagement message",
    130429: "Rate limit hit",
    131026: "Message undeliverable",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    190: "Invalid OAuth access token - Cannot parse access token",
    100: "Invalid parameter",
    131052: "Media download error",
}


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, Any] | None = None
    authorized: bool = True
    failed: bool = False


@dataclass
class Failure:
    """A configured failure: ``times`` None means every matching call, else the next N."""

    route: str
    status: int | None = 400
    code: int | None = None
    message: str | None = None
    to: str | None = None
    media_id: str | None = None
    times: int | None = None
    delay: float = 0.0
    hits: int = 0

    def matches(self, route: str, *, to: str | None, media_id: str | None) -> bool:
        if self.route != route or self.times == 0:
            return False
        if self.to is not None and self.to != to:
            return False
        return self.media_id is None or self.media_id == media_id


@dataclass
class StoredMedia:
    media_id: str
    data: bytes
    mime_type: str
    filename: str | None = None
    sha256_hex: str = ""

    def __post_init__(self) -> None:
        self.sha256_hex = hashlib.sha256(self.data).hexdigest()

    @property
    def sha256_b64(self) -> str:
        """The hash as Meta's webhooks give it (base64 of the digest)."""
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode("ascii")


@dataclass
class MetaGraphFake:
    """The fake server: ``async with MetaGraphFake() as fake:``, or the ``meta_graph`` fixture."""

    access_token: str = "test-access-token"
    app_secret: str = "test-app-secret"
    phone_number_id: str = "106540352242922"
    requests: list[RecordedRequest] = field(default_factory=list)
    media: dict[str, StoredMedia] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    downloads: dict[str, int] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _origin: str = ""
    _counter: Any = field(default_factory=lambda: itertools.count(1))

    # -- life cycle --------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> MetaGraphFake:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_get("/whatsapp_business/attachments/", self._download)
        app.router.add_post(f"/{API_VERSION}/{{pnid}}/messages", self._messages)
        app.router.add_post(f"/{API_VERSION}/{{pnid}}/media", self._upload)
        app.router.add_get(f"/{API_VERSION}/{{media_id}}", self._media_info)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        bound_port = sockets[0].getsockname()[1]
        self._origin = f"http://{host}:{bound_port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MetaGraphFake:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What ``WHATSAPP_GRAPH_URL`` should be set to."""
        return f"{self._origin}/{API_VERSION}"

    # -- configuration -------------------------------------------------------------------------
    def fail(
        self,
        route: str,
        *,
        status: int | None = 400,
        code: int | None = None,
        message: str | None = None,
        to: str | None = None,
        media_id: str | None = None,
        times: int | None = None,
        delay: float = 0.0,
    ) -> Failure:
        """Make calls of ``route`` (one of :data:`ROUTES`) fail.

        ``to`` / ``media_id`` restrict it to one recipient / media; ``times`` to the next N
        matching calls (None: all). ``status=None`` with ``delay`` only slows the call down.
        """
        if route not in ROUTES:
            raise ValueError(f"route must be one of {ROUTES}")
        failure = Failure(route, status, code, message, to, media_id, times, delay)
        self.failures.append(failure)
        return failure

    def fail_sends(
        self,
        code: int = 131047,
        *,
        status: int = 400,
        to: str | None = None,
        times: int | None = None,
        message: str | None = None,
    ) -> Failure:
        """Shorthand: sends (to ``to``, or anyone) answer Meta's error ``code``."""
        return self.fail("messages", status=status, code=code, to=to, times=times, message=message)

    def fail_downloads(
        self, media_id: str | None = None, *, times: int | None = 1, status: int = 500
    ) -> Failure:
        """Shorthand: the next ``times`` byte downloads (of ``media_id``, or any) fail."""
        return self.fail("download", status=status, media_id=media_id, times=times)

    def clear_failures(self) -> None:
        self.failures.clear()

    def add_media(
        self,
        data: bytes,
        mime_type: str,
        *,
        filename: str | None = None,
        media_id: str | None = None,
    ) -> StoredMedia:
        """Media the contact "sent": downloadable by its id. Put its facts into a webhook."""
        media_id = media_id or str(10**15 + next(self._counter) * 7919)
        item = StoredMedia(media_id, data, mime_type, filename)
        self.media[media_id] = item
        return item

    # -- what happened ---------------------------------------------------------------------------
    @property
    def sent(self) -> list[dict[str, Any]]:
        """Bodies of accepted message sends (mark-as-read excluded)."""
        return [
            r.json
            for r in self.requests
            if r.path.endswith("/messages")
            and r.authorized
            and isinstance(r.json, dict)
            and "to" in r.json
            and not r.failed
        ]

    @property
    def read_marks(self) -> list[str]:
        return [
            r.json["message_id"]
            for r in self.requests
            if r.path.endswith("/messages")
            and isinstance(r.json, dict)
            and r.json.get("status") == "read"
        ]

    # -- handlers ------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.access_token}".encode())

    def _record(
        self, request: web.Request, body: Any = None, form: dict | None = None
    ) -> RecordedRequest:
        rec = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            body,
            form,
            self._authorized(request),
        )
        self.requests.append(rec)
        return rec

    async def _failure(
        self, route: str, *, to: str | None = None, media_id: str | None = None
    ) -> web.Response | None:
        for failure in self.failures:
            if failure.matches(route, to=to, media_id=media_id):
                if failure.times is not None:
                    failure.times -= 1
                failure.hits += 1
                if failure.delay:
                    await asyncio.sleep(failure.delay)
                if failure.status is None:
                    return None
                return _error_response(failure.status, failure.code, failure.message)
        return None

    async def _messages(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        rec = self._record(request, body)
        if not rec.authorized:
            return _error_response(401, 190)
        if request.match_info["pnid"] != self.phone_number_id:
            return _error_response(400, 100, "Unsupported post request: unknown phone number id")
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return _error_response(400, 100, "The parameter messaging_product is required.")
        if body.get("status") == "read":
            failed = await self._failure("messages", to=None)
            if failed is not None:
                return failed
            return web.json_response({"success": True})
        to = str(body.get("to") or "")
        if not to or not body.get("type"):
            return _error_response(400, 100, "The parameter to is required.")
        failed = await self._failure("messages", to=to)
        if failed is not None:
            rec.failed = True
            return failed
        wa_id = "".join(ch for ch in to if ch.isdigit())
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": self.new_wamid(wa_id)}],
            }
        )

    async def _upload(self, request: web.Request) -> web.Response:
        form: dict[str, Any] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.filename is not None:
                    data = await part.read(decode=False)
                    form["file"] = {
                        "filename": part.filename,
                        "data": bytes(data),
                        "content_type": part.headers.get("Content-Type"),
                    }
                else:
                    form[part.name] = (await part.read(decode=True)).decode()
        rec = self._record(request, None, form)
        if not rec.authorized:
            return _error_response(401, 190)
        failed = await self._failure("media_upload")
        if failed is not None:
            return failed
        if "file" not in form or form.get("messaging_product") != "whatsapp":
            return _error_response(400, 100, "The parameter file is required.")
        item = self.add_media(
            form["file"]["data"],
            form.get("type") or form["file"]["content_type"],
            filename=form["file"]["filename"],
        )
        return web.json_response({"id": item.media_id})

    async def _media_info(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        rec = self._record(request)
        if not rec.authorized:
            return _error_response(401, 190)
        failed = await self._failure("media_info", media_id=media_id)
        if failed is not None:
            return failed
        item = self.media.get(media_id)
        if item is None:
            return _error_response(
                404, 100, f"Unsupported get request. Object with ID '{media_id}' does not exist"
            )
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self._origin}/whatsapp_business/attachments/"
                f"?mid={media_id}&ext={next(self._counter)}",
                "mime_type": item.mime_type,
                "sha256": item.sha256_hex,
                "file_size": len(item.data),
                "id": media_id,
            }
        )

    async def _download(self, request: web.Request) -> web.StreamResponse:
        media_id = request.query.get("mid", "")
        rec = self._record(request)
        if not rec.authorized:
            return web.Response(status=401, text="unauthorized")
        self.downloads[media_id] = self.downloads.get(media_id, 0) + 1
        failed = await self._failure("download", media_id=media_id)
        if failed is not None:
            return failed
        item = self.media.get(media_id)
        if item is None:
            return web.Response(status=404, text="not found")
        response = web.StreamResponse(headers={"Content-Type": item.mime_type})
        response.content_length = len(item.data)
        await response.prepare(request)
        view = memoryview(item.data)
        for start in range(0, len(view), 1024 * 1024):
            await response.write(view[start : start + 1024 * 1024])
        await response.write_eof()
        return response

    def new_wamid(self, wa_id: str = "") -> str:
        """A fresh wamid in Meta's style (base64, so it may contain ``/``, ``+`` and ``=``)."""
        payload = (
            f"{wa_id}\x15\x02\x00\x11\x18".encode()
            + os.urandom(11)
            + next(self._counter).to_bytes(2, "big")
        )
        return "wamid." + base64.b64encode(payload).decode("ascii")


def _error_response(status: int, code: int | None, message: str | None = None) -> web.Response:
    code = code if code is not None else (131000 if status >= 500 else 100)
    message = message or ERROR_MESSAGES.get(code) or "Something went wrong"
    error: dict[str, Any] = {
        "message": f"({'#' + str(code)}) {message}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": message},
        "fbtrace_id": "AbCdEfGhIjKlMnOp",
    }
    return web.json_response({"error": error}, status=status)
