"""The compliance officer's CLI over a real archive, on every backend."""

from __future__ import annotations

import json

import pytest

from bridge.archive import Archive
from bridge.record import Party, Record
from tests.support.processes import clean_env, wabridge
from tests.support.records import inbound_text


@pytest.fixture
async def archive_env(archive_location, tmp_path):
    store = archive_location["open"]()
    await store.ensure_ready()
    archive = Archive(store)
    records = []
    for i in range(6):
        records.append((await archive.put(inbound_text(i, contact="15550000001"))).record)
    for i in range(6, 9):
        records.append(
            (
                await archive.put(
                    inbound_text(i, contact="447700900123", text=f"quarterly report {i}")
                )
            ).record
        )
    employee = Record(
        conversation=records[0].conversation,
        platform="teams",
        direction="outbound",
        kind="message",
        type="text",
        source_id="1732800000000",
        sent_at="2025-11-28T12:00:00.000Z",
        captured_at="",
        sender=Party(
            id="9f1c2d3e-0000-4000-8000-000000000001",
            name="Erin Employee",
            platform="teams",
            upn="erin@contoso.example",
        ),
        recipients=(Party(id="15550000001", name="Dana Example"),),
        text="Thanks, will call you",
    )
    records.append((await archive.put(employee)).record)
    await store.close()
    return clean_env(**archive_location["env"]), records


def run(env, tmp_path, *args):
    return wabridge(*args, cwd=tmp_path, env=env)


async def test_search_json_without_filters_prints_every_record_in_time_order(archive_env, tmp_path):
    env, records = archive_env
    result = run(env, tmp_path, "archive", "search", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    expected = sorted(records, key=lambda r: (r.sent_at, r.id))
    assert lines == [r.canonical().decode() for r in expected]


@pytest.mark.parametrize(
    ("args", "count"),
    [
        (["--participant", "+44 7700 900123"], 3),
        (["--participant", "erin@contoso.example"], 1),
        (["--participant", "15550000001"], 7),
        (["--text", "QUARTERLY report"], 3),
        (["--platform", "teams"], 1),
        (["--kind", "message", "--platform", "whatsapp"], 9),
        (["--since", "2025-11-28T03:20:03Z", "--until", "2025-11-28T03:20:06Z"], 3),
        (["--until", "2025-11-27"], 0),
    ],
)
async def test_search_filters(archive_env, tmp_path, args, count):
    env, _ = archive_env
    result = run(env, tmp_path, "archive", "search", "--json", *args)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == count


async def test_search_by_conversation(archive_env, tmp_path):
    env, records = archive_env
    conv = records[7].conversation
    result = run(env, tmp_path, "archive", "search", "--json", "--conversation", conv)
    assert {json.loads(line)["conversation"] for line in result.stdout.splitlines()} == {conv}


async def test_show_prints_the_record_and_unknown_id_is_one_line_error(archive_env, tmp_path):
    env, records = archive_env
    result = run(env, tmp_path, "archive", "show", records[3].id)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == records[3].to_dict()
    missing = run(env, tmp_path, "archive", "show", "01JZZZZZZZZZZZZZZZZZZZZZZZ")
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1


async def test_stats_counts(archive_env, tmp_path):
    env, _ = archive_env
    result = run(env, tmp_path, "archive", "stats")
    assert result.returncode == 0, result.stderr
    assert "records: 10" in result.stdout
    assert "conversations: 2" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["archive", "search", "--since", "yesterday"],
        ["archive", "search", "--kind", "gossip"],
        ["archive", "frobnicate"],
        ["archive", "search", "--limit", "-1"],
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path, args):
    result = wabridge(*args, "--archive", str(tmp_path / "a"), cwd=tmp_path)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_archive_commands_need_no_service_secrets(tmp_path):
    result = wabridge("archive", "verify", "--archive", str(tmp_path / "empty"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "verify OK: 0 records" in result.stdout
