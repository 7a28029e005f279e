"""`wabridge serve` anchors its ledger: a checkpoint every WABRIDGE_CHECKPOINT_SECONDS into a
directory outside the archive or another Azure container; an anchor inside the archive, or a
bad interval, stops it at start-up; without an anchor it warns."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp

from bot.loopback.deliveries import post_webhook, text_delivery
from bridge.anchor.store import AnchorStore
from bridge.store.azure_blob import AzureBlobStore
from bridge.store.local import LocalStore
from tests.conftest import new_container_name
from tests.support.processes import Service, clean_env, wabridge

SECRET = "checkpoint-test-app-secret"
PNID = "106540352242922"
#: A guard against a hang, not a timing assertion.
GUARD = 60


def _anchor(location: dict, tmp_path: Path, azurite) -> tuple[dict, AnchorStore]:
    if location["backend"] == "local":
        root = tmp_path / "anchor"
        return {"WABRIDGE_ANCHOR_URL": str(root)}, AnchorStore(LocalStore(root))
    container = new_container_name()
    store = AzureBlobStore.from_connection_string(azurite.connection_string, container)
    return {"WABRIDGE_ANCHOR_CONTAINER": container}, AnchorStore(store)


async def _checkpoints(anchor: AnchorStore) -> list[dict]:
    return [json.loads(await anchor.read(n)) for n in await anchor.names()]


async def test_the_service_writes_checkpoints_that_anchor_what_it_archived(
    archive_location, tmp_path, azurite
):
    anchor_env, anchor = _anchor(archive_location, tmp_path, azurite)
    env = clean_env(
        **archive_location["env"],
        **anchor_env,
        WABRIDGE_DEV_MODE="1",
        WHATSAPP_APP_SECRET=SECRET,
        WABRIDGE_CHECKPOINT_SECONDS="1",
    )
    service = await asyncio.to_thread(Service(tmp_path, env).start)
    try:
        async with aiohttp.ClientSession() as session:
            for n in range(3):
                payload = text_delivery(PNID, "15550001111", f"hello {n}", wamid=f"wamid.ck{n}")
                status, _ = await post_webhook(
                    session, service.url + "/api/whatsapp", payload, app_secret=SECRET
                )
                assert status == 200
        deadline = time.monotonic() + GUARD
        while True:
            found = await _checkpoints(anchor)
            holding = [c for c in found if c["ledger"]["entries"] >= 3]
            if len(found) >= 3 and holding:
                break
            assert time.monotonic() < deadline, found
            await asyncio.sleep(0.2)
    finally:
        service.stop()
    try:
        at_shutdown = await _checkpoints(anchor)
    finally:
        await anchor.close()
    assert len(at_shutdown) > len(found)  # one more, written as the service stopped
    found = at_shutdown
    times = [c["created_at"] for c in found]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert {c["archive"] for c in found} == {found[0]["archive"]}
    assert "checkpoints every 1s into" in service.log.read_text()
    result = wabridge(
        "archive", "verify", cwd=tmp_path, env=clean_env(**archive_location["env"], **anchor_env)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"checkpoints: {len(found)} from" in result.stdout
    assert "not yet anchored" not in result.stdout


def test_an_anchor_inside_the_archive_stops_the_service(tmp_path):
    (tmp_path / "archive").mkdir()
    (tmp_path / "inside").symlink_to(tmp_path / "archive" / "anchor", target_is_directory=True)
    for anchor in (tmp_path / "archive" / "anchor", tmp_path / "inside"):
        result = wabridge(
            "serve",
            cwd=tmp_path,
            timeout=60,
            env=clean_env(
                WABRIDGE_DEV_MODE="1",
                ARCHIVE_URL=str(tmp_path / "archive"),
                WABRIDGE_ANCHOR_URL=str(anchor),
                PORT="0",
            ),
        )
        assert result.returncode == 2, result.stderr
        line = result.stderr.strip().splitlines()[-1]  # after the start-up warnings of dev mode
        assert line.startswith("wabridge: WABRIDGE_ANCHOR_URL")
        assert "inside the archive directory" in line
    made = wabridge(
        "archive",
        "checkpoint",
        "--archive",
        str(tmp_path / "archive"),
        "--anchor",
        str(tmp_path / "inside"),
        cwd=tmp_path,
    )
    assert made.returncode == 2 and "inside the archive directory" in made.stderr
    assert not (tmp_path / "archive" / "anchor").exists()


def test_the_archives_own_container_is_refused_as_its_anchor(tmp_path, azurite):
    container = new_container_name()
    result = wabridge(
        "archive",
        "checkpoint",
        cwd=tmp_path,
        env=clean_env(
            AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string,
            ARCHIVE_CONTAINER=container,
            WABRIDGE_ANCHOR_CONTAINER=container,
        ),
    )
    assert result.returncode == 2
    assert "WABRIDGE_ANCHOR_CONTAINER" in result.stderr and "own container" in result.stderr


def test_a_bad_interval_stops_the_service_and_no_anchor_is_a_warning(tmp_path):
    bad = wabridge(
        "serve",
        cwd=tmp_path,
        timeout=60,
        env=clean_env(WABRIDGE_DEV_MODE="1", WABRIDGE_CHECKPOINT_SECONDS="soon"),
    )
    assert bad.returncode == 2
    assert "WABRIDGE_CHECKPOINT_SECONDS" in bad.stderr.strip().splitlines()[0]
    service = Service(tmp_path, clean_env(WABRIDGE_DEV_MODE="1")).start()
    service.stop()
    assert "WABRIDGE_ANCHOR_URL is not set: no checkpoints of the ledger" in service.log.read_text()
