"""Search benchmark: N synthetic records into a local archive and/or Azurite, then the index.

    .venv/bin/python -m bench.search --n 1000000 --backend local --dir /tmp/wabridge-bench
    .venv/bin/python -m bench.search --n 50000 --backend azurite

Records are written through the real write path (``Archive.put``: record blob + ledger), with
many writes in flight. It then rebuilds the index from the records alone (the reindex rate),
measures an incremental refresh through the ledger cursor, and prints p50/p95 latencies of
typical queries. A query's latency is what ``archive search`` does for one page: bring the
index in step (nothing new), count the matches, select the first page of 100 and read those
records from the archive.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.synth import BUSINESS_PNID, World, records
from bridge.archive import Archive
from bridge.errors import ArchiveUnavailable
from bridge.ids import make_conversation_id
from bridge.readside.index import ArchiveIndex, read_hits
from bridge.readside.query import RecordQuery, parse_time_bound
from bridge.store.local import LocalStore

PAGE = 100


async def generate(
    archive: Archive, world: World, n: int, concurrency: int, seed: int | None = None
) -> float:
    for _sha, body, mime, _name in world.media:
        await archive.put_media_bytes(body, mime_type=mime)
    items = records(world, n, seed)
    done = 0
    retries = [0]
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        for record, key in items:
            for attempt in range(5):
                try:
                    await archive.put(record, key)  # idempotent per key: safe to retry
                    break
                except ArchiveUnavailable:
                    if attempt == 4:
                        raise
                    retries[0] += 1
                    await asyncio.sleep(1 + attempt)
            done += 1
            if done % 10000 == 0:
                rate = done / (time.perf_counter() - started)
                print(f"  written {done}/{n} ({rate:,.0f}/s)", file=sys.stderr, flush=True)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if retries[0]:
        print(f"  ({retries[0]} writes retried after a storage timeout)", file=sys.stderr)
    return time.perf_counter() - started


def typical_queries(world: World, rng: random.Random, count: int) -> dict[str, list[RecordQuery]]:
    n_contacts = len(world.contacts)

    def contact() -> str:
        return world.contacts[int(n_contacts * rng.random() ** 2)][0]

    def month() -> tuple[str, str]:
        m = rng.randrange(24)
        y, mm = 2024 + (11 + m) // 12, (11 + m) % 12 + 1
        key = f"{y}-{mm:02d}"
        return parse_time_bound(key), parse_time_bound(key, end=True)

    rare = world.vocabulary[-5000:-4000]
    out: dict[str, list[RecordQuery]] = {
        "participant (+E.164) + month": [],
        "participant (UPN) + month": [],
        "conversation": [],
        "full text, one word": [],
        "full text, two words": [],
        "kind + one day": [],
        "flag": [],
    }
    for _ in range(count):
        since, until = month()
        wa = contact()
        out["participant (+E.164) + month"].append(
            RecordQuery(participant=f"+{wa[:2]} {wa[2:6]} {wa[6:]}", since=since, until=until)
        )
        out["participant (UPN) + month"].append(
            RecordQuery(
                participant=rng.choice(world.employees)[1].upper(), since=since, until=until
            )
        )
        out["conversation"].append(
            RecordQuery(conversation=make_conversation_id(BUSINESS_PNID, contact()))
        )
        out["full text, one word"].append(RecordQuery(text=rng.choice(rare)))
        out["full text, two words"].append(
            RecordQuery(text=f"{rng.choice(rare)} {rng.choice(['invoice', 'payment', 'the'])}")
        )
        day = parse_time_bound(since[:10]), parse_time_bound(since[:10], end=True)
        out["kind + one day"].append(RecordQuery(kind="message", since=day[0], until=day[1]))
        out["flag"].append(RecordQuery(flag="promissory", since=since, until=until))
    return out


async def one_search(archive: Archive, index: ArchiveIndex, query: RecordQuery) -> tuple[int, int]:
    await index.refresh(archive)
    total = index.count(query)
    page = await read_hits(archive, index.search(query, limit=PAGE))
    return total, len(page)


def _megabytes(path: Path) -> float:
    return os.path.getsize(path) / 1e6


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def run(
    archive: Archive, label: str, n: int, args: argparse.Namespace, index_path: Path
) -> None:
    world = World.make(n, seed=args.seed)
    print(f"== {label}: {n:,} records ({archive.store.description})")
    if not args.skip_generate:
        elapsed = await generate(archive, world, n, args.concurrency)
        print(
            f"write:   {n:,} records in {elapsed:,.1f} s = {n / elapsed:,.0f} records/s "
            f"(Archive.put, {args.concurrency} in flight)"
        )
    index = ArchiveIndex(index_path, str(archive.store.description))
    started = time.perf_counter()
    total = await index.rebuild(archive)
    elapsed = time.perf_counter() - started
    print(
        f"reindex: {total:,} records in {elapsed:,.1f} s = {total / elapsed:,.0f} records/s "
        f"(index file {_megabytes(index_path):,.0f} MB)"
    )
    extra = args.extra or max(100, min(10_000, n // 100))
    await generate(archive, world, extra, args.concurrency, seed=args.seed + 1)
    started = time.perf_counter()
    added = await index.refresh(archive)
    elapsed = time.perf_counter() - started
    print(
        f"refresh: {added:,} new records through the ledger cursor in {elapsed:,.2f} s "
        f"= {added / elapsed:,.0f} records/s"
    )
    started = time.perf_counter()
    await index.refresh(archive)
    print(f"refresh with nothing new: {(time.perf_counter() - started) * 1000:,.1f} ms")

    rng = random.Random(args.seed)
    print(f"{'query':32} {'p50 ms':>8} {'p95 ms':>8} {'matches (median)':>17}")
    for name, queries in typical_queries(world, rng, args.queries).items():
        timings, counts = [], []
        for query in queries:
            started = time.perf_counter()
            count, _ = await one_search(archive, index, query)
            timings.append((time.perf_counter() - started) * 1000)
            counts.append(count)
        print(
            f"{name:32} {pct(timings, 50):8.1f} {pct(timings, 95):8.1f} "
            f"{statistics.median(counts):17,.0f}"
        )
    index.close()


async def main_async(args: argparse.Namespace) -> None:
    if args.backend in ("local", "both"):
        root = Path(args.dir or tempfile.mkdtemp(prefix="wabridge-bench-"))
        archive = Archive(LocalStore(root, fsync=False))
        await archive.store.ensure_ready()
        try:
            await run(archive, "local directory", args.n, args, root / ".index" / "index.sqlite3")
        finally:
            await archive.close()
    if args.backend in ("azurite", "both"):
        from bridge.store.azure_blob import AzureBlobStore
        from tests.support.azurite import Azurite

        workdir = Path(tempfile.mkdtemp(prefix="wabridge-bench-azurite-"))
        azurite = None if args.connection_string else Azurite(workdir / "data").start()
        conn = args.connection_string or azurite.connection_string
        archive = Archive(AzureBlobStore.from_connection_string(conn, "bench"))
        await archive.store.ensure_ready()
        try:
            await run(archive, "Azurite", args.azurite_n or args.n, args, workdir / "index.sqlite3")
        finally:
            await archive.close()
            if azurite is not None:
                azurite.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="records to generate")
    parser.add_argument("--azurite-n", type=int, help="records for Azurite when --backend both")
    parser.add_argument("--backend", choices=("local", "azurite", "both"), default="local")
    parser.add_argument("--dir", help="local archive directory (default: a new temporary one)")
    parser.add_argument("--connection-string", help="an Azurite/Azure connection string to use")
    parser.add_argument("--skip-generate", action="store_true", help="reuse the records in --dir")
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--queries", type=int, default=40, help="instances of each query kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--extra", type=int, help="records added after the reindex (refresh test)")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
