"""Storage outage under load: Azurite stopped and restarted while signed deliveries stream in.

Meta retries every delivery not acknowledged with 2xx; afterwards every event is in the archive
exactly once and ``wabridge archive verify`` passes (DESIGN.md §4, archive before acknowledge).
"""

from __future__ import annotations

import asyncio

from tests.conftest import new_container_name
from tests.faults.harness import (
    GUARD,
    MetaSender,
    Signed,
    Tally,
    archived,
    poll_until,
    service_env,
    start_service,
    text_payload,
    tracebacks,
    verify,
    wamid,
)

DELIVERIES = 700
#: Storage stays down until the service has refused this many attempts with 503.
REFUSALS = 30


async def test_every_event_archived_once_across_a_storage_outage(
    azurite_factory, meta_graph, tmp_path
) -> None:
    azurite = azurite_factory()
    container = new_container_name()
    conn = azurite.connection_string
    service = await start_service(tmp_path, service_env(conn, container, meta_graph.base_url))
    deliveries = [Signed.of(text_payload(n, "OUT"), [wamid(n, "OUT")]) for n in range(DELIVERIES)]
    sender = MetaSender()
    outage_started = asyncio.Event()

    def progress(acknowledged: int) -> None:
        if acknowledged == DELIVERIES // 3 and not outage_started.is_set():
            outage_started.set()

    async def outage() -> None:
        await outage_started.wait()
        await asyncio.to_thread(azurite.stop)
        before = sender.acknowledged
        # Keep storage down until the service has refused a good number of attempts.
        await poll_until(
            lambda: sender.statuses[503] >= REFUSALS or sender.acknowledged == DELIVERIES
        )
        refused_while_down = sender.statuses[503]
        await asyncio.to_thread(azurite.start)
        print(
            f"\noutage: {refused_while_down} attempts refused with 503 while Azurite was "
            f"down ({sender.acknowledged - before} acknowledged in flight)"
        )

    try:
        async with asyncio.timeout(GUARD):
            await asyncio.gather(
                sender.send_all(deliveries, lambda attempt: [service.url], progress), outage()
            )
        assert not sender.gave_up
        assert sender.statuses[503] > 0, "the outage must have been seen by the sender"
        records = await archived(conn, container)
        tally = Tally.of(deliveries, records)
        print(
            f"storage outage: {tally}; {sender.attempts} attempts, statuses {dict(sender.statuses)}"
        )
        assert (tally.lost, tally.duplicated) == (0, 0)
        assert tally.archived == DELIVERIES
        # No 5xx other than the storage outage's 503, and nothing unhandled.
        assert set(sender.statuses) <= {200, 503, 0}
    finally:
        service.stop()
    assert not tracebacks(service.log)
    await asyncio.to_thread(verify, tmp_path, conn, container)
