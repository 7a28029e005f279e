"""Employees' attachments downloaded from Teams: a size cap that holds while the bytes stream,
with or without a Content-Length."""

from __future__ import annotations

import pytest
from aiohttp import web

from bot.loopback.server import LoopbackServer
from bot.ports import AttachmentError
from bot.teams.files import TeamsFileFetcher


@pytest.fixture
async def files_server():
    seen: list[str | None] = []

    async def sized(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(body=b"x" * 5000, content_type="application/pdf")

    async def streamed(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization"))
        response = web.StreamResponse()
        response.content_type = "image/png"
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"y" * 1000)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/sized", sized)
    app.router.add_get("/streamed", streamed)
    server = await LoopbackServer(app).start()
    yield server.url, seen
    await server.stop()


def activity(url: str, **extra) -> dict:
    return {
        "attachments": [
            {"contentType": "application/pdf", "contentUrl": url, "name": "a.pdf", **extra}
        ]
    }


async def test_a_file_within_the_cap_is_fetched(files_server):
    url, seen = files_server
    fetcher = TeamsFileFetcher(app_id="", app_password="", max_bytes=100_000)
    (file,) = await fetcher.fetch(activity(f"{url}/sized"))
    assert (len(file.data), file.mime_type, file.filename) == (5000, "application/pdf", "a.pdf")
    assert seen == [None]  # no identity (dev mode): no token sent
    assert await fetcher.fetch({"attachments": [{"contentType": "text/html"}]}) == []


@pytest.mark.parametrize("path", ["sized", "streamed"])
async def test_a_file_over_the_cap_is_refused_whether_or_not_its_size_is_announced(
    files_server, path
):
    url, _ = files_server
    fetcher = TeamsFileFetcher(app_id="", app_password="", max_bytes=4000)
    with pytest.raises(AttachmentError, match="too large"):
        await fetcher.fetch(activity(f"{url}/{path}"))
