"""Storage down: writes fail fast with ArchiveUnavailable, and nothing is half-written."""

from __future__ import annotations

import time

import pytest

from bridge.archive import Archive
from bridge.errors import ArchiveUnavailable
from bridge.store.azure_blob import AzureBlobStore
from bridge.verify import verify_archive
from tests.support.records import inbound_text


async def test_stopped_azurite_makes_a_write_raise_archive_unavailable_quickly(azurite_factory):
    emulator = azurite_factory()
    store = AzureBlobStore.from_connection_string(emulator.connection_string, "outage")
    archive = Archive(store)
    try:
        await store.ensure_ready()
        assert (await archive.put(inbound_text(1))).created
        emulator.stop()
        started = time.monotonic()
        with pytest.raises(ArchiveUnavailable):
            await archive.put(inbound_text(2))
        assert time.monotonic() - started < 15  # bounded retries, not the SDK's minute of backoff
        # Storage back (same data, same port): the event is archived exactly once on retry.
        restarted = azurite_factory(emulator.location, emulator.blob_port)
        assert restarted.blob_port == emulator.blob_port
        assert (await archive.put(inbound_text(2))).created
        assert not (await archive.put(inbound_text(2))).created
        report = await verify_archive(archive)
        assert report.ok, [p.line() for p in report.problems]
        assert report.records == 2
    finally:
        await store.close()


async def test_local_archive_on_a_broken_path_raises_archive_unavailable(tmp_path):
    from bridge.store.local import LocalStore

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the archive directory should be")
    with pytest.raises(ArchiveUnavailable):
        await Archive(LocalStore(blocker / "archive")).put(inbound_text(1))
