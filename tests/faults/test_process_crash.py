"""Process crash: the service SIGKILLed in the middle of the load and started again.

Every event ends in the archive exactly once, ``archive verify`` passes, and media downloads
that were pending (or in flight) when the process died are resumed by the restarted service.
"""

from __future__ import annotations

import asyncio
import base64

from bot.capture.media import list_pending
from bridge.archive import Archive
from bridge.store.azure_blob import AzureBlobStore
from tests.conftest import new_container_name
from tests.fakes.meta_graph import delivery
from tests.faults.harness import (
    GUARD,
    PNID,
    MetaSender,
    Signed,
    Tally,
    archived,
    poll_until,
    service_env,
    start_service,
    text_payload,
    verify,
    wamid,
)

DELIVERIES = 500
IMAGES = 12


async def no_pending(store: AzureBlobStore) -> bool:
    return not await list_pending(store)


def image_payload(n: int, media_id: str, sha256_hex: str) -> dict:
    wa_id = f"1555{n:07d}"
    return delivery(
        PNID,
        {
            "contacts": [{"profile": {"name": f"Photo sender {n}"}, "wa_id": wa_id}],
            "messages": [
                {
                    "from": wa_id,
                    "id": wamid(n, "IMG"),
                    "timestamp": "1764350000",
                    "type": "image",
                    "image": {
                        "mime_type": "image/png",
                        "id": media_id,
                        "caption": f"photo {n}",
                        "sha256": base64.b64encode(bytes.fromhex(sha256_hex)).decode(),
                    },
                }
            ],
        },
    )


async def test_every_event_archived_once_and_media_resumed_after_sigkill(
    azurite, meta_graph, tmp_path
) -> None:
    conn, container = azurite.connection_string, new_container_name()
    # Downloads are slow while the first process runs, so media is pending or in flight when
    # it dies; a short lease lets the restarted process take over in-flight items.
    slow = meta_graph.fail("download", status=None, delay=8.0)
    images = [
        meta_graph.add_media(f"png bytes {n}".encode() * 50, "image/png") for n in range(IMAGES)
    ]
    env = service_env(
        conn,
        container,
        meta_graph.base_url,
        access_token=meta_graph.access_token,
        WABRIDGE_MEDIA_LEASE_SECONDS="2",
    )
    service = await start_service(tmp_path, env)
    deliveries = [
        Signed.of(text_payload(n, "CRASH"), [wamid(n, "CRASH")]) for n in range(DELIVERIES)
    ]
    for n, item in enumerate(images):
        deliveries.insert(
            n * 50, Signed.of(image_payload(n, item.media_id, item.sha256_hex), [wamid(n, "IMG")])
        )
    sender = MetaSender()
    crash_at = asyncio.Event()
    pending_at_crash: list[int] = []

    def progress(acknowledged: int) -> None:
        if acknowledged >= len(deliveries) // 2:
            crash_at.set()

    async def crash() -> None:
        await crash_at.wait()
        await asyncio.to_thread(service.kill)
        pending_at_crash.append(len(await list_pending(store)))
        before = sender.statuses[0]
        # Down until a good number of connections have been refused.
        await poll_until(lambda: sender.statuses[0] - before >= 100, 0.1)
        meta_graph.failures.remove(slow)
        await asyncio.to_thread(service.start)

    store = AzureBlobStore.from_connection_string(conn, container)
    archive = Archive(store)
    try:
        async with asyncio.timeout(GUARD):
            await asyncio.gather(
                sender.send_all(deliveries, lambda attempt: [service.url], progress), crash()
            )
            assert not sender.gave_up
            await poll_until(lambda: no_pending(store))
        records = await archived(conn, container)
        tally = Tally.of(deliveries, records)
        print(
            f"\nprocess crash: {tally}; {sender.attempts} attempts, statuses "
            f"{dict(sender.statuses)}; media downloads pending when killed: "
            f"{pending_at_crash[0]}; all {IMAGES} media stored after the restart"
        )
        assert (tally.lost, tally.duplicated) == (0, 0)
        assert tally.archived == len(deliveries)
        assert set(sender.statuses) <= {200, 0}
        assert pending_at_crash[0] > 0, "the crash must have left media downloads pending"
        for item in images:
            assert await archive.has_media(item.sha256_hex)
    finally:
        service.stop()
        await archive.close()
    await asyncio.to_thread(verify, tmp_path, conn, container)
