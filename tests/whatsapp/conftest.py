"""A running service (real aiohttp server on loopback) with the Graph API fake behind it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import SERVICE, create_app
from bot.settings import Settings
from bridge.archive import Archive
from tests.fakes.meta_graph import MetaGraphFake, post_webhook

APP_SECRET = "test-app-secret-4f1c"
VERIFY_TOKEN = "test-verify-token-9d2e"
FAST_MEDIA = {
    "WABRIDGE_MEDIA_QUICK_SECONDS": "2",
    "WABRIDGE_MEDIA_RETRY_SECONDS": "0.05",
    "WABRIDGE_MEDIA_POLL_SECONDS": "0.05",
}


def service_settings(fake: MetaGraphFake, extra: dict[str, str] | None = None) -> Settings:
    """The service's settings (its archive is given to ``create_app`` directly)."""
    return Settings.from_env(
        {
            "HOST": "127.0.0.1",
            "PORT": "0",
            "MicrosoftAppId": "00000000-0000-0000-0000-000000000001",
            "MicrosoftAppPassword": "unused-in-these-tests",
            "WHATSAPP_ACCESS_TOKEN": fake.access_token,
            "WHATSAPP_PHONE_NUMBER_ID": fake.phone_number_id,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "WHATSAPP_GRAPH_URL": fake.base_url,
            **FAST_MEDIA,
            **(extra or {}),
        }
    )


@dataclass
class Service:
    """The service under test: its URL, archive, HTTP session and the fake Graph API."""

    url: str
    app: web.Application
    runner: web.AppRunner
    session: aiohttp.ClientSession
    fake: MetaGraphFake

    @property
    def archive(self) -> Archive:
        return self.app[SERVICE].archive

    async def deliver(self, payload: Any, **kwargs: Any) -> tuple[int, str]:
        kwargs.setdefault("app_secret", APP_SECRET)
        return await post_webhook(self.session, f"{self.url}/api/whatsapp", payload, **kwargs)

    async def records(self) -> list[dict[str, Any]]:
        return [json.loads(data) async for _, data in self.archive.iter_records()]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_service(
    store, fake: MetaGraphFake, session: aiohttp.ClientSession, extra: dict[str, str] | None = None
) -> Service:
    app = create_app(service_settings(fake, extra), store=store)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return Service(f"http://127.0.0.1:{port}", app, runner, session, fake)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def service(archive_location, meta_graph: MetaGraphFake, http):
    """The service over the parametrized archive backend (local and Azurite)."""
    instance = await start_service(archive_location["open"](), meta_graph, http)
    try:
        yield instance
    finally:
        await instance.stop()
