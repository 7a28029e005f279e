"""Media capture against the Graph API fake: retries, hash checks, resumption after restart."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from bot.app import SERVICE
from bot.capture.media import PENDING_PREFIX, MediaCapture, PendingMedia
from bot.cli import main
from bot.settings import ConfigError, Env, MediaSettings
from bridge.verify import verify_archive
from tests.fakes.meta_graph import delivery
from tests.whatsapp.conftest import start_service
from tests.whatsapp.fixtures import ANA, PHONE_NUMBER_ID


def document_delivery(media_id: str, sha256_hex: str, wamid: str = "wamid.DOC1") -> dict:
    import base64

    return delivery(
        PHONE_NUMBER_ID,
        {
            "contacts": [{"profile": {"name": "Ana Pereira"}, "wa_id": ANA}],
            "messages": [
                {
                    "from": ANA,
                    "id": wamid,
                    "timestamp": "1764349300",
                    "type": "document",
                    "document": {
                        "filename": "terms.pdf",
                        "mime_type": "application/pdf",
                        "sha256": base64.b64encode(bytes.fromhex(sha256_hex)).decode(),
                        "id": media_id,
                    },
                }
            ],
        },
    )


async def wait_until_no_pending(archive, rounds: int = 400) -> list[str]:
    """Poll the pending list until it is empty (or give up and return what is left)."""
    for _ in range(rounds):
        left = [i.name async for i in archive.store.list(PENDING_PREFIX)]
        if not left:
            return []
        await asyncio.sleep(0.05)
    return left


async def test_download_failing_twice_then_succeeding_ends_in_the_archive(service) -> None:
    data = b"%PDF-1.7 terms and conditions " * 1000
    item = service.fake.add_media(data, "application/pdf")
    service.fake.fail_downloads(item.media_id, times=2, status=500)
    status, _ = await service.deliver(document_delivery(item.media_id, item.sha256_hex))
    assert status == 200
    assert await wait_until_no_pending(service.archive) == []
    assert service.fake.downloads[item.media_id] == 3
    assert (
        await service.archive.store.read(f"media/{item.sha256_hex[:2]}/{item.sha256_hex}") == data
    )
    report = await verify_archive(service.archive)
    assert report.ok and report.media_checked == 1 and not report.warnings


async def test_bytes_not_matching_the_announced_hash_are_not_stored(
    service, archive_location, monkeypatch, capsys
) -> None:
    item = service.fake.add_media(b"the real bytes", "application/pdf")
    announced = hashlib.sha256(b"what the webhook promised").hexdigest()
    status, _ = await service.deliver(document_delivery(item.media_id, announced))
    assert status == 200
    await asyncio.sleep(0.3)  # let the worker retry a few times
    assert not await service.archive.has_media(announced)
    assert not await service.archive.has_media(item.sha256_hex)
    [pending] = await service.app[SERVICE].media.list_pending()
    assert pending.sha256 == announced and "mismatch" in pending.last_error
    report = await verify_archive(service.archive)
    assert [w.kind for w in report.warnings] == ["media-pending"]
    assert "hash mismatch" in report.warnings[0].detail
    # the compliance officer's view of it
    for name, value in archive_location["env"].items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["archive", "pending"]) == 0
    out = capsys.readouterr().out
    assert f"sha256={announced}" in out and "hash mismatch" in out and "1 media pending" in out


async def test_pending_media_is_resumed_after_a_restart(archive_location, meta_graph, http) -> None:
    data = b"\x89PNG screenshot" * 500
    item = meta_graph.add_media(data, "image/png")
    meta_graph.fail_downloads(item.media_id, times=None)
    first = await start_service(
        archive_location["open"](), meta_graph, http, {"WABRIDGE_MEDIA_RETRY_SECONDS": "3600"}
    )
    try:
        status, _ = await first.deliver(document_delivery(item.media_id, item.sha256_hex))
        assert status == 200
    finally:
        await first.stop()
    meta_graph.clear_failures()
    # a later start-up finds the pending document and fetches at once
    # (its next attempt lies in the past once the retry delay is over: make it due now)
    store = archive_location["open"]()
    [name] = [i.name async for i in store.list(PENDING_PREFIX)]
    doc = await store.get_doc(name)
    due = json.loads(doc.data) | {
        "next_attempt_at": "2000-01-01T00:00:00.000Z",
        "lease_until": None,
    }
    await store.put_doc(name, json.dumps(due).encode(), etag=doc.etag)
    await store.close()
    second = await start_service(archive_location["open"](), meta_graph, http)
    try:
        assert await wait_until_no_pending(second.archive) == []
        assert await second.archive.has_media(item.sha256_hex)
    finally:
        await second.stop()


async def test_one_pending_item_per_media(service) -> None:
    capture: MediaCapture = service.app[SERVICE].media
    item = PendingMedia(
        "ab" * 32, "123", "image/jpeg", "REC1", created_at="2026-11-28T00:00:00.000Z"
    )
    await capture.create_pending(item)
    await capture.create_pending(item)
    assert len(await capture.list_pending()) == 1


def test_media_settings_from_env() -> None:
    settings = MediaSettings.from_env(Env({"WABRIDGE_MEDIA_QUICK_SECONDS": "0.5"}))
    assert settings.quick_budget == 0.5 and settings.retry_base == MediaSettings.retry_base
    assert settings.lease == 600
    assert MediaSettings.from_env(Env({"WABRIDGE_MEDIA_LEASE_SECONDS": "2"})).lease == 2
    for bad in ("bogus", "-1", "nan"):
        with pytest.raises(ConfigError, match="WABRIDGE_MEDIA_RETRY_SECONDS"):
            MediaSettings.from_env(Env({"WABRIDGE_MEDIA_RETRY_SECONDS": bad}))


async def test_large_media_is_streamed_not_held_in_memory(tmp_path, meta_graph) -> None:
    import tracemalloc

    from bot.whatsapp.client import CloudApiClient
    from bridge.archive import Archive
    from bridge.store.local import LocalStore

    size = 48 * 1024 * 1024
    data = bytes(range(256)) * (size // 256)
    item = meta_graph.add_media(data, "application/pdf")
    archive = Archive(LocalStore(tmp_path / "archive"))
    client = CloudApiClient(
        graph_url=meta_graph.base_url,
        access_token=meta_graph.access_token,
        phone_number_id=meta_graph.phone_number_id,
    )
    capture = MediaCapture(archive, client, MediaSettings())
    tracemalloc.start()
    try:
        await capture.fetch(PendingMedia(item.sha256_hex, item.media_id, "application/pdf", "R"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await client.close()
        await archive.close()
    stored = tmp_path / "archive" / "media" / item.sha256_hex[:2] / item.sha256_hex
    assert stored.stat().st_size == size
    assert peak < size // 4


async def test_media_without_an_announced_hash_is_kept_and_linked(service) -> None:
    data = b"GIF89a sticker without a hash"
    item = service.fake.add_media(data, "image/gif")
    payload = document_delivery(item.media_id, item.sha256_hex)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["document"].pop("sha256")
    assert (await service.deliver(payload))[0] == 200
    assert await wait_until_no_pending(service.archive) == []
    records = await service.records()
    [message] = [r for r in records if r["kind"] == "message"]
    [link] = [r for r in records if r["kind"] == "system"]
    assert message["attachments"][0]["sha256"] is None
    assert link["relates_to"] == message["id"]
    assert link["attachments"][0]["sha256"] == item.sha256_hex
    assert link["attachments"][0]["media_id"] == item.media_id
    assert await service.archive.has_media(item.sha256_hex)
