"""Relay benchmark: WhatsApp messages of many contacts into Teams threads, and replies out.

Runs the service in-process on a local archive directory (or Azure Blob / Azurite when
``AZURE_STORAGE_CONNECTION_STRING`` and ``ARCHIVE_CONTAINER`` are set) with the loopback Meta
and Bot Connector stand-ins of ``bot.loopback``, then:

1. *inbound*: ``--contacts`` contacts each send ``--messages`` messages (one signed webhook
   delivery each, all contacts at once): webhook ack latency, and the time from each 200 to the
   message's post in its Teams thread (p50/p95/p99/max), total throughput, and a check that every
   contact got exactly one thread with its messages in order;
2. *outbound*: one reply per contact in its thread (all at once): the time until the
   ``/api/messages`` call returns, which covers archive, gate and the Cloud API send.

Usage::

    .venv/bin/python bench/relay.py [--contacts 20] [--messages 5] [--instances 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.app import SERVICE, create_app  # noqa: E402
from bot.loopback.connector import FakeBotConnector, TeamsUser, post_activity  # noqa: E402
from bot.loopback.deliveries import post_webhook, text_delivery  # noqa: E402
from bot.loopback.meta_graph import MetaGraphFake  # noqa: E402
from bot.loopback.server import LoopbackServer  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bridge.governance.registry import Member, UserRegistry  # noqa: E402

CHANNEL = "19:bench-inbox@thread.tacv2"
EMPLOYEE = TeamsUser(
    "6f1c2d3e-0000-4000-8000-0000000be4c1", "Bench Employee", "bench@contoso.example"
)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


async def until_mapped(service, thread: str) -> None:
    """The relay records a thread a moment after posting it; replies need that record."""
    for _ in range(1000):
        if await service.threads.of_teams_thread(thread):
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"thread {thread} was never recorded")


async def main(args: argparse.Namespace) -> None:
    meta = await MetaGraphFake().start()
    connector = await FakeBotConnector().start()
    archive_dir = tempfile.mkdtemp(prefix="wabridge-bench-")
    env = {
        "WABRIDGE_DEV_MODE": "1",
        "ARCHIVE_URL": archive_dir,
        "HOST": "127.0.0.1",
        "WHATSAPP_GRAPH_URL": meta.base_url,
        "WHATSAPP_ACCESS_TOKEN": meta.access_token,
        "WHATSAPP_PHONE_NUMBER_ID": meta.phone_number_id,
        "WHATSAPP_APP_SECRET": meta.app_secret,
        "WHATSAPP_VERIFY_TOKEN": "bench",
        "WABRIDGE_RELAY_POLL_SECONDS": "0.2",
    }
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "ARCHIVE_CONTAINER"):
        if os.environ.get(name):
            env[name] = os.environ[name]
            env.pop("ARCHIVE_URL", None)
    services = []
    for _ in range(args.instances):
        app = create_app(Settings.from_env(env))
        services.append((app, await LoopbackServer(app).start()))
    archive = services[0][0][SERVICE].archive
    print(f"archive: {archive.store.description}; instances: {args.instances}")
    try:
        async with aiohttp.ClientSession() as http:
            await UserRegistry(archive).add(
                Member(EMPLOYEE.object_id, EMPLOYEE.upn, EMPLOYEE.name), by="bench"
            )
            await post_activity(
                http,
                services[0][1].url,
                EMPLOYEE.channel_message("setup", service_url=connector.url, channel_id=CHANNEL),
            )
            contacts = [f"49151{i:08d}" for i in range(args.contacts)]
            acked: dict[str, float] = {}
            ack_latency: list[float] = []

            async def contact_sends(index: int, wa_id: str) -> None:
                url = services[index % len(services)][1].url + "/api/whatsapp"
                for n in range(args.messages):
                    text = f"message {n} of {wa_id}"
                    started = time.monotonic()
                    status, body = await post_webhook(
                        http,
                        url,
                        text_delivery(
                            meta.phone_number_id,
                            wa_id,
                            text,
                            wamid=f"wamid.bench.{wa_id}.{n}",
                            timestamp=1764350000 + n,
                        ),
                        app_secret=meta.app_secret,
                    )
                    if status != 200:
                        raise RuntimeError(f"webhook answered {status}: {body}")
                    acked[text] = time.monotonic()
                    ack_latency.append(acked[text] - started)

            started, cpu_started = time.monotonic(), time.process_time()
            await asyncio.gather(*(contact_sends(i, c) for i, c in enumerate(contacts)))
            total = args.contacts * args.messages
            deadline = time.monotonic() + 300
            while sum(len(connector.posts_in(t)) for t in connector.threads) < total:
                if time.monotonic() > deadline:
                    raise RuntimeError("not everything was posted within 300 s")
                await asyncio.sleep(0.02)
            elapsed = time.monotonic() - started
            cpu = time.process_time() - cpu_started
            to_teams = []
            for thread in connector.threads:
                posts = connector.posts_in(thread)
                texts = [p.activity.get("text", "").split(": ", 1)[-1] for p in posts]
                numbers = [int(t.split()[1]) for t in texts]
                if numbers != sorted(numbers):
                    raise RuntimeError(f"out of order in {thread}: {numbers}")
                for post, text in zip(posts, texts, strict=True):
                    to_teams.append(post.received_at - acked[text])
            threads_ok = len(connector.threads) == args.contacts
            print(
                f"inbound: {total} messages of {args.contacts} contacts in {elapsed:.2f} s "
                f"({total / elapsed:.1f} msg/s end to end)"
            )
            print(
                f"  webhook ack: p50 {ms(pct(ack_latency, 50))}, p95 {ms(pct(ack_latency, 95))}, "
                f"p99 {ms(pct(ack_latency, 99))}"
            )
            print(
                f"  200 -> Teams post: p50 {ms(pct(to_teams, 50))}, p95 {ms(pct(to_teams, 95))}, "
                f"p99 {ms(pct(to_teams, 99))}, max {ms(max(to_teams))}"
            )
            print(
                f"  CPU of this process (service, stand-ins and senders together): "
                f"{cpu / total * 1000:.1f} ms per message"
            )
            print(
                f"  threads: {len(connector.threads)} for {args.contacts} contacts "
                f"({'one each' if threads_ok else 'MISMATCH'}), every thread in order"
            )

            for thread in connector.threads:
                await until_mapped(services[0][0][SERVICE], thread)
            reply_latency: list[float] = []

            async def reply(thread: str) -> None:
                activity = EMPLOYEE.channel_message(
                    "Thanks, on it.",
                    service_url=connector.url,
                    channel_id=CHANNEL,
                    thread_id=thread,
                )
                begun = time.monotonic()
                resp = await post_activity(http, services[0][1].url, activity)
                if resp.status not in (200, 201):
                    raise RuntimeError(f"/api/messages answered {resp.status}")
                reply_latency.append(time.monotonic() - begun)

            begun = time.monotonic()
            await asyncio.gather(*(reply(t) for t in connector.threads))
            spent = time.monotonic() - begun
            print(
                f"outbound: {len(reply_latency)} replies in {spent:.2f} s; /api/messages "
                f"(archive + gate + Cloud API send): p50 {ms(pct(reply_latency, 50))}, "
                f"p95 {ms(pct(reply_latency, 95))}; sent {len(meta.sent)}"
            )
            print(f"  mean per reply {statistics.mean(reply_latency) * 1000:.0f} ms")
    finally:
        for _app, server in services:
            await server.stop()
        await connector.stop()
        await meta.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=20)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--instances", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
