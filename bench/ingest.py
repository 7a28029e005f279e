"""Webhook ingest benchmark: signed deliveries against a running service archiving into Azurite.

Starts its own Azurite (tools/node_modules/azurite) and ``wabridge serve`` as subprocesses on
loopback, then, in one run:

1. *ingest*: ``--deliveries`` signed text-message deliveries at ``--concurrency`` (closed loop):
   deliveries/s and ack latency;
2. *raw*: as many ``azure-storage-blob`` uploads of blobs the size of one archived record, at the
   same concurrency, to the same Azurite: uploads/s;
3. *outage* (last): Azurite stopped, the time until deliveries are refused with 503;
4. *paced* (run first, after a warm-up): ``--rate`` deliveries/s for ``--seconds`` (open
   loop): p50/p99 ack latency.

Prints the figures and the ratio ingest/raw. Usage::

    .venv/bin/python bench/ingest.py [--deliveries 1000] [--rounds 6] [--concurrency 32] [--rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from azure.storage.blob.aio import BlobServiceClient  # noqa: E402

from bridge.convert.whatsapp import convert_delivery  # noqa: E402
from bridge.record import now_rfc3339  # noqa: E402
from tests.support.azurite import Azurite, free_port  # noqa: E402

SECRET = "bench-app-secret"
CONTAINER = "benchingest"
PNID = "106540352242922"
BODY_TEXT = (
    "Hello, following up on our call: please send the term sheet for the 2027 series and "
    "confirm the settlement date. Thanks!"
)


def delivery(n: int, run: str) -> dict:
    wa_id = f"1555{n % 1000:07d}"
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": PNID,
                            },
                            "contacts": [
                                {"profile": {"name": f"Contact {n % 1000}"}, "wa_id": wa_id}
                            ],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": f"wamid.BENCH{run}{n:08d}",
                                    "type": "text",
                                    "timestamp": str(int(time.time())),
                                    "text": {"body": BODY_TEXT},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def signed(payload: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sig}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def record_size() -> int:
    [(record, _)] = convert_delivery(delivery(1, "size"), received_at=now_rfc3339())
    return len(record.sealed().canonical())


SERVE = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main(['serve']))"]


def spawn_service(azurite: Azurite, container: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    """``wabridge serve`` archiving into ``container`` of ``azurite`` (BENCH_SERVE_CMD overrides
    the command, e.g. to run it under a profiler)."""
    port = free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "ARCHIVE_CONTAINER": container,
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_VERIFY_TOKEN": "bench-verify",
        "WHATSAPP_ACCESS_TOKEN": "bench-token",
        "WHATSAPP_PHONE_NUMBER_ID": PNID,
        "WHATSAPP_GRAPH_URL": f"http://127.0.0.1:{free_port()}/v23.0",
        "MicrosoftAppId": "00000000-0000-0000-0000-000000000001",
        "MicrosoftAppPassword": "bench-unused",
    }
    env.pop("ARCHIVE_URL", None)
    command = os.environ.get("BENCH_SERVE_CMD", "").split() or SERVE
    with open(workdir / "service.log", "wb") as log:
        proc = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
    return proc, f"http://127.0.0.1:{port}"


async def wait_ready(proc: subprocess.Popen, url: str, workdir: Path) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"service exited; see {workdir / 'service.log'}")
            try:
                async with session.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("service did not become ready")


async def ingest(url: str, n: int, concurrency: int, run: str) -> tuple[float, list[float]]:
    bodies = [signed(delivery(i, run)) for i in range(n)]
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[tuple[bytes, dict]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                body, headers = queue.get_nowait()
                t0 = time.perf_counter()
                async with session.post(f"{url}/api/whatsapp", data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        failures += 1
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} deliveries were not acknowledged with 200")
    return n / elapsed, latencies


async def paced(url: str, rate: float, seconds: float, run: str) -> list[float]:
    n = int(rate * seconds)
    bodies = [signed(delivery(i, run)) for i in range(n)]
    latencies: list[float] = []
    failures = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(i: int, start: float) -> None:
            nonlocal failures
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            body, headers = bodies[i]
            t0 = time.perf_counter()
            async with session.post(f"{url}/api/whatsapp", data=body, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    failures += 1
            latencies.append(time.perf_counter() - t0)

        start = time.perf_counter() + 0.2
        await asyncio.gather(*(one(i, start) for i in range(n)))
    if failures:
        raise RuntimeError(f"{failures} paced deliveries were not acknowledged with 200")
    return latencies


async def raw_uploads(
    conn: str, container_name: str, n: int, concurrency: int, size: int, prefix: str
) -> float:
    """Plain ``upload_blob`` calls of ``size`` bytes into the archive's own container (so that
    the emulator's state, which slows as it grows, is the same for both measurements)."""
    service = BlobServiceClient.from_connection_string(conn)
    container = service.get_container_client(container_name)
    data = os.urandom(size // 2 + 1).hex().encode()[:size]
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await container.upload_blob(f"bench-raw/{prefix}/{i:08d}.json", data, overwrite=False)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    await container.close()
    await service.close()
    return n / elapsed


async def ledger_batching(conn: str) -> tuple[int, int]:
    """(ledger entries, append operations) in the archive: how well group commit batches."""
    service = BlobServiceClient.from_connection_string(conn)
    container = service.get_container_client(CONTAINER)
    entries = appends = 0
    async for blob in container.list_blobs(name_starts_with="ledger/"):
        client = container.get_blob_client(blob.name)
        props = await client.get_blob_properties()
        appends += props.append_blob_committed_block_count or 0
        entries += (await (await client.download_blob()).readall()).count(b"\n")
    await container.close()
    await service.close()
    return entries, appends


async def time_to_503(url: str, azurite: Azurite, n: int) -> list[tuple[int, float]]:
    """Stop the emulator and time how long deliveries take to be refused (status, seconds)."""
    azurite.stop()
    out = []
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            body, headers = signed(delivery(i, "outage"))
            t0 = time.perf_counter()
            async with session.post(f"{url}/api/whatsapp", data=body, headers=headers) as r:
                await r.read()
                out.append((r.status, time.perf_counter() - t0))
    return out


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=1000, help="per round and phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=100.0, help="paced deliveries per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the paced phase")
    parser.add_argument(
        "--rounds",
        type=int,
        default=6,
        help="alternating ingest/raw rounds (the ratio printed is their median)",
    )
    parser.add_argument(
        "--no-outage",
        dest="outage",
        action="store_false",
        help="skip the last phase (Azurite stopped: time to 503)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="wabridge-bench-"))
    azurite = Azurite(workdir / "azurite").start()
    proc = None
    rounds = []
    try:
        proc, url = spawn_service(azurite, CONTAINER, workdir)
        await wait_ready(proc, url, workdir)
        size = record_size()
        await ingest(url, min(200, args.deliveries), args.concurrency, "warm")  # warm-up
        # Paced first, while the emulator's in-memory metadata is small (it slows as it grows).
        paced_lat = await paced(url, args.rate, args.seconds, "paced")
        pids = {"service": proc.pid, "azurite": azurite.proc.pid, "bench": os.getpid()}
        for n in range(args.rounds):
            # Alternate the two measurements (and their order) so that load from elsewhere and
            # the emulator's growth hit both alike.
            async def measure_ingest(n: int = n) -> tuple[float, list[float], dict, dict]:
                ledger_before = await ledger_batching(azurite.connection_string)
                before = {k: cpu_seconds(p) for k, p in pids.items()}
                rate, lat = await ingest(url, args.deliveries, args.concurrency, f"r{n}")
                after = {k: cpu_seconds(p) for k, p in pids.items()}
                ledger_after = await ledger_batching(azurite.connection_string)
                after["ledger"] = tuple(
                    a - b for a, b in zip(ledger_after, ledger_before, strict=True)
                )
                return rate, lat, before, after

            async def measure_raw(n: int = n) -> tuple[float, dict, dict]:
                before = {k: cpu_seconds(p) for k, p in pids.items()}
                rate = await raw_uploads(
                    azurite.connection_string,
                    CONTAINER,
                    args.deliveries,
                    args.concurrency,
                    size,
                    f"r{n}",
                )
                return rate, before, {k: cpu_seconds(p) for k, p in pids.items()}

            if n % 2 == 0:
                ingest_rate, lat, i0, i1 = await measure_ingest()
                raw_rate, r0, r1 = await measure_raw()
            else:
                raw_rate, r0, r1 = await measure_raw()
                ingest_rate, lat, i0, i1 = await measure_ingest()
            rounds.append((ingest_rate, lat, raw_rate, i0, i1, r0, r1))
        entries, appends = await ledger_batching(azurite.connection_string)
        outage = await time_to_503(url, azurite, 3) if args.outage else []
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        azurite.stop()

    ms, per = 1000.0, 1000.0 / args.deliveries
    print(
        f"record size {size} bytes; concurrency {args.concurrency}; "
        f"{args.deliveries} deliveries and {args.deliveries} raw uploads per round"
    )
    for n, (ingest_rate, lat, raw_rate, i0, i1, r0, r1) in enumerate(rounds, start=1):
        print(
            f"round {n}: ingest {ingest_rate:7.1f} deliveries/s (ack p50 "
            f"{statistics.median(lat) * ms:5.1f} ms, p99 {percentile(lat, 0.99) * ms:5.1f} ms)"
            f"  raw {raw_rate:7.1f} uploads/s  ratio {ingest_rate / raw_rate:.2f}"
        )
        round_entries, round_appends = i1["ledger"]
        print(
            "         CPU ms per delivery: "
            + ", ".join(f"{k} {(i1[k] - i0[k]) * per:.2f}" for k in pids)
            + f"; ledger {round_entries / max(round_appends, 1):.1f} entries per append"
            + " | per raw upload: "
            + ", ".join(f"{k} {(r1[k] - r0[k]) * per:.2f}" for k in pids)
        )
    ingest_total = sum(r[0] for r in rounds) / len(rounds)
    raw_total = sum(r[2] for r in rounds) / len(rounds)
    ratios = sorted(r[0] / r[2] for r in rounds)
    print(
        f"ingest {ingest_total:.1f} deliveries/s, raw {raw_total:.1f} uploads/s (means); "
        f"ratio ingest/raw: median {statistics.median(ratios):.2f} "
        f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})"
    )
    p50, p99 = statistics.median(paced_lat) * ms, percentile(paced_lat, 0.99) * ms
    print(
        f"paced {args.rate:.0f} deliveries/s for {args.seconds:.0f} s: "
        f"ack p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(
        f"ledger: {entries} entries in {appends} appends "
        f"({entries / max(appends, 1):.1f} entries per append)"
    )
    if outage:
        print(
            "Azurite stopped: "
            + ", ".join(f"{status} after {secs:.1f} s" for status, secs in outage)
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
