"""Archive before acknowledge with storage down: 503, then exactly one record per replay."""

from __future__ import annotations

import asyncio

from bridge.store.azure_blob import AzureBlobStore
from tests.conftest import new_container_name
from tests.whatsapp.conftest import start_service
from tests.whatsapp.fixtures import load

#: Not a timing assertion: a guard so that a hang fails the test instead of stalling the suite.
GUARD = 60


async def test_deliveries_get_503_while_azurite_is_down_and_land_once_after(
    azurite_factory, meta_graph, http
) -> None:
    azurite = azurite_factory()
    container = new_container_name()
    store = AzureBlobStore.from_connection_string(azurite.connection_string, container)
    service = await start_service(store, meta_graph, http)
    try:
        assert (await service.deliver(load("text")))[0] == 200
        azurite.stop()
        deliveries = [load("multi"), load("status_failed")]
        for payload in deliveries:
            async with asyncio.timeout(GUARD):
                status, _ = await service.deliver(payload)
            assert status == 503
        azurite.start()
        for payload in deliveries + deliveries:
            async with asyncio.timeout(GUARD):
                status, _ = await service.deliver(payload)
            assert status == 200
        records = await service.records()
        # text (1) + multi (4) + failed status (1), each exactly once
        assert len(records) == 6
        assert len({(r["source_id"], r["status"]) for r in records}) == 6
    finally:
        await service.stop()
