"""Search through the index equals a brute-force scan of the records, on both backends."""

from __future__ import annotations

import asyncio
import json
import random

from bridge.archive import Archive
from bridge.readside.index import ArchiveIndex
from bridge.readside.query import RecordQuery, matches, parse_time_bound, sort_key, text_tokens
from bridge.readside.scan import scan_select
from tests.readside.support import CONTACT, CONV, EMPLOYEE, all_records, build, cli_env, run_cli


def random_queries(docs: list[dict], rng: random.Random, count: int) -> list[RecordQuery]:
    words = sorted({w for d in docs for w in text_tokens(d.get("text"))})
    parties = sorted(
        {p["id"] for d in docs for p in [d.get("sender") or {}] + d["recipients"] if p}
    )
    conversations = sorted({d["conversation"] for d in docs if d.get("conversation")})
    months = sorted({d["sent_at"][:7] for d in docs})
    out = []
    for _ in range(count):
        q: dict = {}
        for field in rng.sample(
            [
                "conversation",
                "participant",
                "time",
                "text",
                "platform",
                "kind",
                "direction",
                "flag",
            ],
            rng.randint(1, 3),
        ):
            if field == "conversation":
                q["conversation"] = rng.choice(conversations)
            elif field == "participant":
                pid = rng.choice(parties)
                forms = [pid, pid.upper()]
                if pid.isdigit():
                    forms += [f"+{pid}", f"+{pid[:2]} {pid[2:6]} {pid[6:]}", f"00{pid}"]
                q["participant"] = rng.choice(forms)
            elif field == "time":
                month = rng.choice(months)
                q["since"] = parse_time_bound(month)
                q["until"] = parse_time_bound(
                    rng.choice([m for m in months if m >= month]), end=True
                )
            elif field == "text":
                picked = rng.sample(words, rng.choice([1, 1, 2]))
                if rng.random() < 0.2:
                    picked[0] = picked[0][:3] + "*"
                q["text"] = " ".join(w.upper() if rng.random() < 0.3 else w for w in picked)
            elif field == "platform":
                q["platform"] = rng.choice(["whatsapp", "teams"])
            elif field == "kind":
                q["kind"] = rng.choice(["message", "status", "reaction", "policy"])
            elif field == "direction":
                q["direction"] = rng.choice(["inbound", "outbound", "internal"])
            elif field == "flag":
                q["flag"] = rng.choice(["promissory", "flag", "block"])
        out.append(RecordQuery(**q))
    return out


def brute_force(docs: list[dict], query: RecordQuery) -> list[str]:
    return [d["id"] for d in sorted((d for d in docs if matches(d, query)), key=sort_key)]


async def test_index_search_equals_brute_force_scan(archive_location, tmp_path):
    archive = Archive(archive_location["open"]())
    n = 600 if archive_location["backend"] == "local" else 120
    await build(archive, n)
    index = ArchiveIndex(tmp_path / "index.sqlite3", archive.store.description)
    try:
        assert await index.refresh(archive) == n + 5
        docs = await all_records(archive)
        rng = random.Random(2026)
        queries = random_queries(docs, rng, 120 if archive_location["backend"] == "local" else 30)
        nonempty = 0
        for query in queries:
            expected = brute_force(docs, query)
            assert [h.id for h in index.search(query)] == expected, query
            assert index.count(query) == len(expected)
            nonempty += bool(expected)
        assert nonempty > len(queries) // 3  # the battery is not trivially empty
        # Paging walks the same order.
        everything = brute_force(docs, RecordQuery())
        pages = [
            h.id
            for off in range(0, len(everything), 97)
            for h in index.search(RecordQuery(), limit=97, offset=off)
        ]
        assert pages == everything
        # The scan without index (tag-narrowed on Azure) agrees too.
        scanned = 15 if archive_location["backend"] == "local" else 4
        for query in queries[:scanned] + [
            RecordQuery(
                since=parse_time_bound("2025-03"), until=parse_time_bound("2025-04", end=True)
            ),
            RecordQuery(
                conversation=CONV,
                since=parse_time_bound("2026-10-02"),
                until=parse_time_bound("2026-10-04", end=True),
            ),
        ]:
            expected = brute_force(docs, query)
            assert [d["id"] for d, _ in await scan_select(archive, query)] == expected
            assert expected or query.conversation != CONV
        # Rebuilt from the records alone, the index answers the same.
        assert await index.rebuild(archive) == n + 5
        for query in queries[:10]:
            assert [h.id for h in index.search(query)] == brute_force(
                docs, query
            )  # the conversation+dates case is not empty
    finally:
        index.close()
        await archive.close()


async def test_participant_in_any_common_form(tmp_path):
    from bridge.store.local import LocalStore

    archive = Archive(LocalStore(tmp_path / "a"))
    await build(archive)
    index = ArchiveIndex(tmp_path / "i.sqlite3", "x")
    await index.refresh(archive)
    expected = {h.id for h in index.search(RecordQuery(participant=CONTACT))}
    assert len(expected) == 4  # all but the firm-internal policy event
    for form in (
        "+44 7700 900123",
        "+447700900123",
        "0044 7700 900123",
        "(+44) 7700-900-123",
        "tel:+447700900123",
    ):
        assert {h.id for h in index.search(RecordQuery(participant=form))} == expected, form
    by_upn = {h.id for h in index.search(RecordQuery(participant="dana.trader@CONTOSO.com"))}
    by_oid = {h.id for h in index.search(RecordQuery(participant=EMPLOYEE.id.upper()))}
    assert by_upn == by_oid and len(by_upn) == 2
    assert index.search(RecordQuery(participant="+44 7700 900124")) == []
    index.close()
    await archive.close()


async def test_index_follows_the_ledger_and_rebuilds_from_records_alone(tmp_path, monkeypatch):
    import bridge.readside.index
    from bridge.store.local import LocalStore

    monkeypatch.setattr(bridge.readside.index, "REFRESH_CHUNK", 7)  # catch up in many small steps

    archive = Archive(LocalStore(tmp_path / "a"))
    await build(archive, 50)
    index = ArchiveIndex(tmp_path / "i.sqlite3", "x")
    assert await index.refresh(archive) == 55
    assert await index.refresh(archive) == 0  # nothing new: nothing read again
    from bench.search import generate
    from bench.synth import World

    await generate(archive, World.make(30, seed=5, media_pool=2), 30, 4, seed=99)
    assert await index.refresh(archive) == 30
    before = [h.id for h in index.search(RecordQuery())]
    # Rebuild with the ledger gone: the records alone suffice.
    for path in (tmp_path / "a" / "ledger").rglob("*.jsonl"):
        path.unlink()
    assert await index.rebuild(archive) == 85
    assert [h.id for h in index.search(RecordQuery())] == before
    index.close()
    await archive.close()


def test_cli_search_json_prints_stored_records_sorted_and_audits_after(archive_location, tmp_path):
    from tests.readside.support import build_sync

    records = build_sync(archive_location["open"], 20)
    with cli_env(archive_location, tmp_path):
        code, out, _ = run_cli("archive", "search", "--json")
        assert code == 0
        lines = out.splitlines()
        assert len(lines) == 25  # no filter: everything, and not its own audit
        docs = [json.loads(line) for line in lines]
        assert [d["id"] for d in docs] == [d["id"] for d in sorted(docs, key=sort_key)]
        stored = {r.id: r.canonical().decode() for r in records}
        for line, doc in zip(lines, docs, strict=True):
            if doc["id"] in stored:
                assert line == stored[doc["id"]]  # the stored canonical bytes, verbatim
        code, out, _ = run_cli(
            "archive", "search", "--json", "--conversation", CONV, "--as", "officer@contoso.com"
        )
        assert [json.loads(x)["id"] for x in out.splitlines()] == [r.id for r in records]
        # The next unfiltered search sees the earlier searches' audits, never its own.
        code, out, _ = run_cli("archive", "search", "--json")
        audits = [json.loads(x) for x in out.splitlines() if json.loads(x)["kind"] == "audit"]
        assert [a["raw"]["query"] for a in audits] == [{}, {"conversation": CONV}]
        assert audits[1]["sender"]["upn"] == "officer@contoso.com"
        code, out, _ = run_cli(
            "archive", "search", "--text", "Angebot", "--participant", "+44 7700 900123"
        )
        assert code == 0 and out.splitlines()[-1] == "1 record(s)"
        code, out, _ = run_cli("archive", "search", "--limit", "2", "--offset", "1")
        assert out.splitlines()[-1].startswith("2 record(s) of ")
        code, _, err = run_cli("archive", "search", "--since", "last tuesday")
        assert code == 2 and "not a date" in err


def test_verify_passes_with_index_and_audit_records(tmp_path):
    from bridge.store.local import LocalStore

    root = tmp_path / "archive"
    location = {"env": {"ARCHIVE_URL": str(root)}}
    asyncio.run(build(Archive(LocalStore(root))))
    with cli_env(location, tmp_path):
        assert run_cli("archive", "search")[0] == 0
        assert (
            run_cli("archive", "export", "--format", "jsonl", "--out", str(tmp_path / "x"))[0] == 0
        )
        assert (root / ".index" / "index.sqlite3").exists()
        code, out, _ = run_cli("archive", "verify")
        assert code == 0 and "verify OK: 7 records" in out, out
        code, out, _ = run_cli("archive", "reindex")
        assert code == 0 and "reindexed 7 record(s)" in out


async def test_refresh_reads_only_the_new_part_of_a_segment(archive_location, tmp_path):
    from bridge.store.base import ArchiveStore

    store = archive_location["open"]()
    archive = Archive(store)
    await build(archive)
    index = ArchiveIndex(tmp_path / "i.sqlite3", store.description)
    assert await index.refresh(archive) == 5
    segment = [i async for i in store.list("ledger/")][0]
    tail = await store.read_from(segment.name, segment.size - 10)
    assert tail == (await store.read(segment.name))[-10:]
    assert await store.read_from(segment.name, segment.size) == b""
    # A half-written last line is left for the next refresh, then read once complete.
    from bench.synth import World, records

    record, key = next(records(World.make(10, seed=1), 1))
    name = "records/x/2026/01/01/half.json"
    await store.create(name, record.canonical())
    line = json.dumps({"n": name, "s": record.sha256, "i": record.id, "h": "0" * 64}).encode()
    await store.append(segment.name, line[:20])
    assert await index.refresh(archive) == 0
    await store.append(segment.name, line[20:] + b"\n")
    assert await index.refresh(archive) == 1
    assert index.name_of(record.id) == name
    assert isinstance(store, ArchiveStore)
    index.close()
    await archive.close()
