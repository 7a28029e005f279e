"""`wabridge archive verify` finds a record altered, removed or inserted behind our back."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.archive import Archive
from bridge.ids import event_key, record_blob_name
from tests.support.records import inbound_text, write_inbound
from tests.support.tamper import overwrite, remove

ROOT = Path(__file__).resolve().parents[2]


def run_verify(location: dict) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ARCHIVE_URL", "AZURE_STORAGE_CONNECTION_STRING")
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "archive", "verify"],
        cwd=ROOT,
        env={**env, **location["env"]},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
async def written(archive_location):
    store = archive_location["open"]()
    await store.ensure_ready()
    archive = Archive(store)
    results = await write_inbound(archive, 12)
    yield archive_location, results
    await store.close()


async def test_clean_archive_verifies(written):
    location, _ = written
    result = run_verify(location)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify OK: 12 records" in result.stdout


async def test_one_changed_byte_is_found_and_named(written):
    location, results = written
    victim = results[4]
    data = victim.record.canonical()
    pos = data.index(b"message number 4") + len(b"message number ")
    await overwrite(location, victim.name, data[:pos] + b"5" + data[pos + 1 :])
    result = run_verify(location)
    assert result.returncode == 1
    assert f"ALTERED: record {victim.record.id}" in result.stdout


async def test_altered_record_with_recomputed_hash_is_still_found(written):
    location, results = written
    victim = results[2]
    forged = replace(victim.record, text="I guarantee returns", sha256="").sealed(
        victim.record.captured_at
    )
    await overwrite(location, victim.name, forged.canonical())
    result = run_verify(location)
    assert result.returncode == 1
    assert f"ALTERED: record {victim.record.id}" in result.stdout
    assert "ledger" in result.stdout


async def test_a_deleted_record_is_found_and_named(written):
    location, results = written
    victim = results[7]
    await remove(location, victim.name)
    result = run_verify(location)
    assert result.returncode == 1
    assert f"REMOVED: record {victim.record.id}" in result.stdout


async def test_a_forged_record_added_later_is_found_and_named(written):
    location, _ = written
    forged = inbound_text(99, text="forged after the fact").sealed("2026-01-01T00:00:00.000Z")
    name = record_blob_name(forged.conversation, forged.sent_at, event_key("forged"))
    await overwrite(location, name, forged.canonical())
    result = run_verify(location)
    assert result.returncode == 1
    assert f"INSERTED: record {forged.id}" in result.stdout


async def test_altering_the_ledger_is_found(written):
    location, results = written
    store = location["open"]()
    try:
        segment = [i.name async for i in store.list("ledger/")][0]
        data = await store.read(segment)
    finally:
        await store.close()
    lines = data.splitlines(keepends=True)
    await overwrite(location, segment, b"".join(lines[:3] + lines[4:]))  # drop one line
    result = run_verify(location)
    assert result.returncode == 1
    assert "LEDGER-BROKEN" in result.stdout
