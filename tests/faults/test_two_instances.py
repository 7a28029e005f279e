"""Two instances behind one archive take the same load: each delivery goes to either instance,
some to both at once (as when Meta retries against another instance): exactly once."""

from __future__ import annotations

import asyncio
import random

from tests.conftest import new_container_name
from tests.faults.harness import (
    GUARD,
    MetaSender,
    Signed,
    Tally,
    archived,
    service_env,
    start_service,
    text_payload,
    tracebacks,
    verify,
    wamid,
)

DELIVERIES = 400


async def test_two_instances_archive_each_event_exactly_once(azurite, meta_graph, tmp_path) -> None:
    conn, container = azurite.connection_string, new_container_name()
    env = service_env(conn, container, meta_graph.base_url)
    first, second = await asyncio.gather(start_service(tmp_path, env), start_service(tmp_path, env))
    deliveries = [
        Signed.of(text_payload(n, "TWO", contacts=20), [wamid(n, "TWO")]) for n in range(DELIVERIES)
    ]
    rng = random.Random(4511)
    both = 0

    def choose(attempt: int) -> list[str]:
        nonlocal both
        pick = rng.random()
        if pick < 0.3:
            both += 1
            return [first.url, second.url]
        return [first.url] if pick < 0.65 else [second.url]

    sender = MetaSender()
    try:
        async with asyncio.timeout(GUARD):
            await sender.send_all(deliveries, choose)
        assert not sender.gave_up
        records = await archived(conn, container)
        tally = Tally.of(deliveries, records)
        print(f"\ntwo instances: {tally}; {both} deliveries posted to both instances at once")
        assert (tally.lost, tally.duplicated) == (0, 0)
        assert tally.archived == DELIVERIES
        assert set(sender.statuses) == {200}
    finally:
        first.stop()
        second.stop()
    assert not tracebacks(first.log, second.log)
    await asyncio.to_thread(verify, tmp_path, conn, container)
