"""Signed download links for archived media, served by ``GET /api/media/{sha256}``.

A Teams post shows an inbound image inline and other media as a file card; both point at our
service, which streams the bytes from the archive. A link carries its expiry and an HMAC over
the hash and expiry, keyed by a random secret kept in ``state/relay/media-key.json`` (shared by
every instance, created on first use), so a link cannot be forged or pointed at other media.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from urllib.parse import quote

from aiohttp import web

from bot.relay.docs import MEDIA_KEY, create_json, read_json
from bridge.archive import Archive
from bridge.errors import ArchiveUnavailable, RecordNotFound
from bridge.ids import media_blob_name

LINK_LIFETIME = 180 * 24 * 3600
_SHA = re.compile(r"^[0-9a-f]{64}$")


class MediaLinks:
    """Makes and checks signed media links for one archive."""

    def __init__(self, archive: Archive, public_url: str) -> None:
        self._archive = archive
        self._public_url = public_url.rstrip("/")
        self._key: bytes | None = None

    async def _secret(self) -> bytes:
        if self._key is None:
            doc = await read_json(self._archive.store, MEDIA_KEY)
            if doc is None:
                await create_json(
                    self._archive.store,
                    MEDIA_KEY,
                    {"key": base64.b64encode(os.urandom(32)).decode()},
                )
                doc = await read_json(self._archive.store, MEDIA_KEY)
            self._key = base64.b64decode(doc["key"])  # type: ignore[index]
        return self._key

    async def link(
        self, sha256_hex: str, filename: str | None = None, *, now: float | None = None
    ) -> str:
        expires = int((now or time.time()) + LINK_LIFETIME)
        sig = _sign(await self._secret(), sha256_hex, expires)
        url = f"{self._public_url}/api/media/{sha256_hex}?exp={expires}&sig={sig}"
        if filename:
            url += "&name=" + quote(filename, safe="")
        return url

    async def check(self, sha256_hex: str, expires: str, sig: str) -> bool:
        try:
            exp = int(expires)
        except ValueError:
            return False
        if exp < time.time():
            return False
        expected = _sign(await self._secret(), sha256_hex, exp)
        return hmac.compare_digest(expected, sig)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sha = request.match_info["sha256"]
        if not _SHA.match(sha):
            return web.json_response({"error": "not a sha256"}, status=404)
        if not await self.check(sha, request.query.get("exp", ""), request.query.get("sig", "")):
            return web.json_response({"error": "invalid or expired link"}, status=403)
        name = media_blob_name(sha)
        try:
            if not await self._archive.store.exists(name):
                return web.json_response(
                    {"error": "media not archived yet; try again shortly"}, status=404
                )
            response = web.StreamResponse()
            response.content_type = "application/octet-stream"
            filename = request.query.get("name")
            if filename:
                safe = re.sub(r"[^\w.\- ]", "_", filename)[:120] or "file"
                response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
            await response.prepare(request)
            async for chunk in self._archive.store.read_stream(name):
                await response.write(chunk)
            await response.write_eof()
            return response
        except RecordNotFound:
            return web.json_response({"error": "not found"}, status=404)
        except ArchiveUnavailable:
            return web.json_response({"error": "archive unavailable"}, status=503)


def _sign(key: bytes, sha256_hex: str, expires: int) -> str:
    mac = hmac.new(key, f"{sha256_hex}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")
