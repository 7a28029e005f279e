"""Storage down: a Teams activity is refused with 503 (so the Bot Connector retries) and nothing
goes out to WhatsApp; with storage back, the retry is archived and sent exactly once."""

from __future__ import annotations

from tests.relay.test_relay_e2e import open_thread, reply


async def test_a_reply_is_refused_while_the_archive_is_down_and_sent_once_after(
    world_without_archive, azurite_factory
):
    world = world_without_archive
    emulator = azurite_factory()
    service = await world.start_service(
        AZURE_STORAGE_CONNECTION_STRING=emulator.connection_string,
        ARCHIVE_CONTAINER="relay-outage",
    )
    await world.register(service)
    await world.setup_inbox(service)
    thread = await open_thread(world, service)
    message = reply(world, thread, "Confirmed for Friday")

    emulator.stop()
    assert await world.teams(service, message) == 503
    assert world.meta.sent == []

    azurite_factory(emulator.location, emulator.blob_port)
    assert await world.teams(service, message) in (200, 201)
    assert await world.teams(service, message) in (200, 201)  # a further redelivery
    assert [m["text"]["body"] for m in world.meta.sent] == ["Confirmed for Friday"]
