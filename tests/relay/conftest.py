"""Fixtures of the relay tests: the fakes and a ``world`` to start service instances in."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fakes.bot_connector import FakeBotConnector
from tests.relay.support import TEMPLATES, World


@pytest.fixture
async def connector():
    fake = await FakeBotConnector().start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def world(meta_graph, connector, tmp_path, archive_location):
    """Service instances on the parametrized archive backend, with the fakes."""
    async for w in _world(meta_graph, connector, tmp_path, archive_location["env"]):
        yield w


@pytest.fixture
async def world_without_archive(meta_graph, connector, tmp_path):
    """Like ``world``, for tests that choose their own archive (``start_service(**env)``)."""
    async for w in _world(meta_graph, connector, tmp_path, {}):
        yield w


async def _world(meta_graph, connector, tmp_path, archive_env):
    templates = tmp_path / "templates.toml"
    templates.write_text(TEMPLATES, encoding="utf-8")
    env = {
        "WABRIDGE_DEV_MODE": "1",
        "HOST": "127.0.0.1",
        "WHATSAPP_GRAPH_URL": meta_graph.base_url,
        "WHATSAPP_ACCESS_TOKEN": meta_graph.access_token,
        "WHATSAPP_PHONE_NUMBER_ID": meta_graph.phone_number_id,
        "WHATSAPP_APP_SECRET": meta_graph.app_secret,
        "WHATSAPP_VERIFY_TOKEN": "verify-me",
        "WABRIDGE_TEMPLATES_FILE": str(templates),
        "WABRIDGE_RELAY_POLL_SECONDS": "0.1",
        "WABRIDGE_SEND_RETRY_SECONDS": "0.05",
        **archive_env,
    }
    async with aiohttp.ClientSession() as session:
        w = World(meta_graph, connector, session, env, tmp_path)
        try:
            yield w
        finally:
            await w.stop()
