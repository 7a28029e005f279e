"""Soak benchmark: a steady rate of signed deliveries against ``wabridge serve`` on Azurite.

Starts its own Azurite and service (the helpers of ``bench/ingest.py``), sends ``--rate``
signed text-message deliveries per second for ``--seconds`` (open loop: a slow answer does not
slow the sender), and prints per ``--interval``: deliveries acknowledged per second, p50/p99 ack
latency, non-200 answers and the service's resident memory (VmRSS from /proc). At the end it
prints the RSS growth between the first interval after ``--warmup`` and the last one.

Usage::

    .venv/bin/python bench/soak.py [--rate 50] [--seconds 600] [--interval 30] [--warmup 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import (  # noqa: E402
    cpu_seconds,
    delivery,
    percentile,
    signed,
    spawn_service,
    wait_ready,
)

from tests.support.azurite import Azurite  # noqa: E402

CONTAINER = "benchsoak"


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (``VmRSS`` of /proc/<pid>/status), 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Interval:
    """Figures of one reporting interval."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures = 0


async def soak(
    url: str, pid: int, rate: float, seconds: float, interval: float, run: str, azurite_pid: int
) -> list[tuple[float, int, Interval]]:
    """Send for ``seconds``; return (end offset, RSS KiB, figures) per interval."""
    intervals: list[Interval] = [Interval()]
    cpu = {"service": cpu_seconds(pid), "azurite": cpu_seconds(azurite_pid)}

    def cpu_share() -> str:
        now = {"service": cpu_seconds(pid), "azurite": cpu_seconds(azurite_pid)}
        shares = {k: (now[k] - cpu[k]) / interval * 100 for k in now}
        cpu.update(now)
        return "  CPU " + ", ".join(f"{k} {v:3.0f} %" for k, v in shares.items())

    rows: list[tuple[float, int, Interval]] = []
    pending: set[asyncio.Task] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(n: int, bucket: Interval) -> None:
            body, headers = signed(delivery(n, run))
            t0 = time.perf_counter()
            try:
                async with session.post(
                    f"{url}/api/whatsapp", data=body, headers=headers
                ) as response:
                    await response.read()
                    if response.status != 200:
                        bucket.failures += 1
            except aiohttp.ClientError:
                bucket.failures += 1
            bucket.latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        next_report = start + interval
        total = int(rate * seconds)
        for n in range(total):
            due = start + n / rate
            now = time.perf_counter()
            if now >= next_report:
                rows.append((next_report - start, rss_kib(pid), intervals[-1]))
                report(rows[-1], interval, cpu_share())
                intervals.append(Interval())
                next_report += interval
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.create_task(one(n, intervals[-1]))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        rows.append((time.perf_counter() - start, rss_kib(pid), intervals[-1]))
        report(rows[-1], interval, cpu_share())
    return rows


def report(row: tuple[float, int, Interval], interval: float, cpu: str) -> None:
    at, rss, figures = row
    lat = figures.latencies or [0.0]
    print(
        f"t={at:6.0f} s  {len(figures.latencies) / interval:6.1f} answers/s  "
        f"p50 {statistics.median(lat) * 1000:6.1f} ms  p99 {percentile(lat, 0.99) * 1000:7.1f} ms"
        f"  non-200 {figures.failures:4d}  RSS {rss / 1024:6.1f} MiB" + cpu,
        flush=True,
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the load")
    parser.add_argument("--interval", type=float, default=30.0, help="reporting interval (s)")
    parser.add_argument(
        "--warmup", type=float, default=60.0, help="seconds excluded from the RSS growth figure"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="wabridge-soak-"))
    azurite = Azurite(workdir / "azurite").start()
    proc = None
    try:
        proc, url = spawn_service(azurite, CONTAINER, workdir)
        await wait_ready(proc, url, workdir)
        print(
            f"service pid {proc.pid}, RSS at start {rss_kib(proc.pid) / 1024:.1f} MiB; "
            f"{args.rate:.0f} deliveries/s for {args.seconds:.0f} s",
            flush=True,
        )
        rows = await soak(
            url,
            proc.pid,
            args.rate,
            args.seconds,
            args.interval,
            f"soak{int(time.time())}",
            azurite.proc.pid,
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
        azurite.stop()

    sent = sum(len(r[2].latencies) for r in rows)
    failed = sum(r[2].failures for r in rows)
    after_warmup = [r for r in rows if r[0] > args.warmup] or rows
    first, last = after_warmup[0][1], rows[-1][1]
    all_lat = [x for r in rows for x in r[2].latencies]
    print(
        f"total: {sent} deliveries, {failed} not acknowledged with 200; ack p50 "
        f"{statistics.median(all_lat) * 1000:.1f} ms, p99 {percentile(all_lat, 0.99) * 1000:.1f} ms"
    )
    print(
        f"RSS after warm-up {first / 1024:.1f} MiB, at the end {last / 1024:.1f} MiB: "
        f"growth {(last - first) / max(first, 1) * 100:+.1f} %"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
