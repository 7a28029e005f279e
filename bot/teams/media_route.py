"""``GET /api/media/{sha256}``: the archived media behind a link in a Teams post.

Only a link the bot signed (and that has not expired) is served; the bytes stream from the
archive, as a download under the file name the link names (made safe for a header).
"""

from __future__ import annotations

import re

from aiohttp import web

from bot.ports import SignedMedia
from bridge.errors import ArchiveUnavailable, RecordNotFound
from bridge.ids import media_blob_name
from bridge.store.base import ArchiveStore

_SHA = re.compile(r"^[0-9a-f]{64}$")


def media_route(store: ArchiveStore, links: SignedMedia):
    """The aiohttp handler of ``GET /api/media/{sha256}``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        sha = request.match_info["sha256"]
        if not _SHA.match(sha):
            return web.json_response({"error": "not a sha256"}, status=404)
        if not await links.check(sha, request.query.get("exp", ""), request.query.get("sig", "")):
            return web.json_response({"error": "invalid or expired link"}, status=403)
        name = media_blob_name(sha)
        try:
            if not await store.exists(name):
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
            async for chunk in store.read_stream(name):
                await response.write(chunk)
            await response.write_eof()
            return response
        except RecordNotFound:
            return web.json_response({"error": "not found"}, status=404)
        except ArchiveUnavailable:
            return web.json_response({"error": "archive unavailable"}, status=503)

    return handle
