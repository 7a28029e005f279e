"""`archive verify` against checkpoints kept outside the archive: each forgery an insider with
write access to the archive's storage can mount — every hash recomputed, the ledger rebuilt so
that it chains — passes the archive's own checks and fails against a checkpoint.

Every test shows both halves: without the anchor the forgery verifies OK (the ledger vouches
for itself), with it verification fails and names what was changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.anchor.checkpoint import CheckpointMaker
from bridge.anchor.store import AnchorStore
from bridge.archive import Archive, dedupe_key_for
from bridge.ids import LEDGER_PREFIX, media_blob_name, record_blob_name
from bridge.ledger import LedgerEntry
from bridge.record import Attachment, rfc3339
from bridge.store.azure_blob import AzureBlobStore
from bridge.store.local import LocalStore
from tests.conftest import new_container_name
from tests.support.processes import clean_env, wabridge
from tests.support.records import inbound_text, write_inbound
from tests.support.tamper import (
    chained,
    entries_of,
    names,
    overwrite,
    read,
    remove,
    rewrite_segment,
)

ORIGINAL_SCAN = b"\xff\xd8 the contract as the contact sent it"


class Anchored:
    """An archive of 12 text messages and one image, and one checkpoint of it in an anchor."""

    def __init__(self, location: dict, tmp_path: Path, anchor_env: dict, anchor_location: dict):
        self.location = location
        self.tmp_path = tmp_path
        self.plain_env = clean_env(**location["env"])
        self.env = clean_env(**location["env"], **anchor_env)
        self.anchor_location = anchor_location
        self.results: list = []
        self.image = None

    def verify(self, *args: str, anchored: bool = True):
        return wabridge(
            "archive",
            "verify",
            *args,
            cwd=self.tmp_path,
            env=self.env if anchored else self.plain_env,
        )

    async def segment(self) -> tuple[str, list[LedgerEntry]]:
        (name,) = await names(self.location, LEDGER_PREFIX)
        return name, entries_of(await read(self.location, name))

    async def forge(self, victim, **changes) -> str:
        """Rewrite ``victim`` with ``changes``, its hash recomputed, and rebuild the ledger
        around it so that it chains; returns the segment's name."""
        forged = replace(victim.record, **changes, sha256="").sealed()
        await overwrite(self.location, victim.name, forged.canonical())
        segment, entries = await self.segment()
        entries = [
            replace(e, sha256=forged.sha256) if e.name == victim.name else e for e in entries
        ]
        await rewrite_segment(self.location, segment, chained(entries))
        return segment

    def assert_forgery_passes_alone_and_fails_anchored(self, *expected: str):
        plain = self.verify(anchored=False)
        assert plain.returncode == 0, plain.stdout + plain.stderr
        assert "verify OK" in plain.stdout and "NO-CHECKPOINT" in plain.stdout
        result = self.verify()
        assert result.returncode == 1, result.stdout + result.stderr
        for text in expected:
            assert text in result.stdout, result.stdout
        assert "verify FAILED" in result.stdout
        return result


def anchor_for(location: dict, tmp_path: Path, azurite) -> tuple[dict, dict, object]:
    """Where this backend keeps its checkpoints: a directory beside the archive, or another
    container of the same storage account."""
    if location["backend"] == "local":
        root = tmp_path / "anchor"
        return (
            {"WABRIDGE_ANCHOR_URL": str(root)},
            {"backend": "local", "root": root},
            lambda: LocalStore(root),
        )
    container = new_container_name()
    conn = azurite.connection_string
    return (
        {"WABRIDGE_ANCHOR_CONTAINER": container},
        {
            "backend": "azurite",
            "env": {"AZURE_STORAGE_CONNECTION_STRING": conn, "ARCHIVE_CONTAINER": container},
        },
        lambda: AzureBlobStore.from_connection_string(conn, container),
    )


async def write_checkpoint(store, anchor_store, archive_id: str | None = None) -> str:
    from bridge.anchor.identity import ensure_archive_id

    anchor = AnchorStore(anchor_store)
    try:
        await anchor.ensure_ready()
        maker = CheckpointMaker(store, archive_id or await ensure_archive_id(store), "tests")
        return await anchor.put(await maker.make(), "tests000")
    finally:
        await anchor.close()


@pytest.fixture
async def anchored(archive_location, tmp_path, azurite):
    anchor_env, anchor_location, open_anchor = anchor_for(archive_location, tmp_path, azurite)
    setup = Anchored(archive_location, tmp_path, anchor_env, anchor_location)
    store = archive_location["open"]()
    await store.ensure_ready()
    archive = Archive(store)
    try:
        setup.results = await write_inbound(archive, 12)
        sha, size = await archive.put_media_bytes(ORIGINAL_SCAN, mime_type="image/jpeg")
        image = replace(
            inbound_text(40, text="the signed contract"),
            type="image",
            attachments=(
                Attachment(sha, "image/jpeg", size, "contract.jpg", blob=media_blob_name(sha)),
            ),
        )
        setup.image = await archive.put(image)
        setup.results.append(setup.image)
        setup.checkpoint = await write_checkpoint(store, open_anchor())
    finally:
        await store.close()
    clean = setup.verify()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "checkpoints: 1 from" in clean.stdout and "not yet anchored" not in clean.stdout
    return setup


async def test_a_record_altered_with_its_hash_recomputed_and_the_ledger_rebuilt(anchored):
    segment = await anchored.forge(anchored.results[5], text="I guarantee returns")
    anchored.assert_forgery_passes_alone_and_fails_anchored(f"LEDGER-REWRITTEN: {segment}")


async def test_a_record_removed_and_the_ledger_rebuilt(anchored):
    victim = anchored.results[7]
    await remove(anchored.location, victim.name)
    segment, entries = await anchored.segment()
    await rewrite_segment(
        anchored.location, segment, chained([e for e in entries if e.name != victim.name])
    )
    anchored.assert_forgery_passes_alone_and_fails_anchored(f"LEDGER-TRUNCATED: {segment}")


async def test_a_record_inserted_into_the_rebuilt_ledger(anchored):
    forged = inbound_text(99, text="a message nobody sent").sealed(
        anchored.results[3].record.captured_at
    )
    name = record_blob_name(forged.conversation, forged.sent_at, dedupe_key_for(forged))
    await overwrite(anchored.location, name, forged.canonical())
    segment, entries = await anchored.segment()
    entries.insert(4, LedgerEntry(name, forged.sha256, forged.id))
    await rewrite_segment(anchored.location, segment, chained(entries))
    anchored.assert_forgery_passes_alone_and_fails_anchored(f"LEDGER-REWRITTEN: {segment}")


async def test_a_new_correctly_chained_segment_of_backdated_records(anchored):
    an_hour_ago = rfc3339(datetime.now(UTC) - timedelta(hours=1))
    forged = [inbound_text(200 + i, text=f"backdated {i}").sealed(an_hour_ago) for i in range(2)]
    entries = []
    for record in forged:
        name = record_blob_name(record.conversation, record.sent_at, dedupe_key_for(record))
        await overwrite(anchored.location, name, record.canonical())
        entries.append(LedgerEntry(name, record.sha256, record.id))
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    await rewrite_segment(
        anchored.location, f"{LEDGER_PREFIX}{today}/feedfacecafe0001-000001.jsonl", chained(entries)
    )
    result = anchored.assert_forgery_passes_alone_and_fails_anchored(
        *(f"INSERTED: record {r.id}" for r in forged)
    )
    assert "does not hold it" in result.stdout


async def test_a_segment_slipped_into_a_sealed_day(anchored):
    """Older days are folded into one digest: a segment added there breaks it."""
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    record = inbound_text(300, text="a conversation that never was").sealed(rfc3339(three_days_ago))
    name = record_blob_name(record.conversation, record.sent_at, dedupe_key_for(record))
    await overwrite(anchored.location, name, record.canonical())
    segment = f"{LEDGER_PREFIX}{three_days_ago:%Y-%m-%d}/feedfacecafe0002-000001.jsonl"
    await rewrite_segment(
        anchored.location, segment, chained([LedgerEntry(name, record.sha256, record.id)])
    )
    anchored.assert_forgery_passes_alone_and_fails_anchored("LEDGER-REWRITTEN: ledger before ")


async def test_a_segment_cut_back_with_its_last_records(anchored):
    segment, entries = await anchored.segment()
    data = await read(anchored.location, segment)
    kept = data.splitlines(keepends=True)[:9]
    for entry in entries[9:]:
        await remove(anchored.location, entry.name)
    await rewrite_segment(anchored.location, segment, b"".join(kept))
    result = anchored.assert_forgery_passes_alone_and_fails_anchored(f"LEDGER-TRUNCATED: {segment}")
    assert f"has 9 entries; checkpoint {anchored.checkpoint}" in result.stdout


async def test_a_media_file_swapped_with_the_records_hashes_and_the_ledger(anchored):
    victim = anchored.image
    other = b"\xff\xd8 a contract with other terms"
    other_sha = hashlib.sha256(other).hexdigest()
    await overwrite(anchored.location, media_blob_name(other_sha), other)
    await remove(anchored.location, victim.record.attachments[0].blob)
    attachment = replace(
        victim.record.attachments[0],
        sha256=other_sha,
        size=len(other),
        blob=media_blob_name(other_sha),
    )
    segment = await anchored.forge(victim, attachments=(attachment,))
    plain = anchored.verify(anchored=False)
    assert "1 media checked" in plain.stdout  # the swapped bytes match the forged record
    anchored.assert_forgery_passes_alone_and_fails_anchored(f"LEDGER-REWRITTEN: {segment}")


async def test_an_edited_checkpoint_is_reported_and_not_trusted(anchored):
    data = json.loads(await read(anchored.anchor_location, anchored.checkpoint))
    data["ledger"]["segments"][0]["entries"] -= 1  # as if the ledger had been shorter
    await overwrite(anchored.anchor_location, anchored.checkpoint, json.dumps(data).encode())
    result = anchored.verify()
    assert result.returncode == 1, result.stdout
    assert (
        f"CHECKPOINT-ALTERED: {anchored.checkpoint}: its content does not match its sha256"
        in result.stdout
    )
    assert "checkpoints: 0" not in result.stdout and "0 checkpoint(s)" in result.stdout


async def test_a_checkpoint_kept_elsewhere_catches_a_rebuilt_ledger_and_an_edit_of_itself(anchored):
    kept = anchored.tmp_path / "mailed-to-compliance.json"
    made = wabridge(
        "archive", "checkpoint", "--out", str(kept), cwd=anchored.tmp_path, env=anchored.plain_env
    )
    assert made.returncode == 0, made.stderr
    written = json.loads(kept.read_text())
    assert f"sha256 {written['sha256']}" in made.stdout
    assert written["ledger"]["entries"] == 13
    segment = await anchored.forge(anchored.results[2], text="never said that")
    result = anchored.verify("--checkpoint", str(kept), anchored=False)
    assert result.returncode == 1 and f"LEDGER-REWRITTEN: {segment}" in result.stdout
    written["ledger"]["segments"][0]["head"] = "0" * 64
    kept.write_text(json.dumps(written, indent=2))
    result = anchored.verify("--checkpoint", str(kept), anchored=False)
    assert result.returncode == 1
    assert f"CHECKPOINT-ALTERED: {kept}" in result.stdout


async def test_records_after_the_newest_checkpoint_are_not_yet_anchored(anchored):
    store = anchored.location["open"]()
    try:
        await write_inbound(Archive(store), 3, contact="15550000002")
    finally:
        await store.close()
    result = anchored.verify()
    assert result.returncode == 0, result.stdout
    assert (
        "warning: not yet anchored: 3 record(s) written after the newest checkpoint"
        in result.stdout
    )
    assert result.stdout.rstrip().splitlines()[-1].startswith("verify OK: 16 records")


async def test_a_checkpoint_of_another_archive_and_a_removed_identity_fail(anchored, azurite):
    store = anchored.location["open"]()
    try:
        foreign = await write_checkpoint(
            store, _same_anchor(anchored, azurite), archive_id="01ARZ3NDEKTSV4RRFFQ69G5FAV"
        )
    finally:
        await store.close()
    result = anchored.verify()
    assert result.returncode == 1
    assert (
        f"CHECKPOINT-FOREIGN: {foreign}: a checkpoint of archive 01ARZ3NDEKTSV4RRFFQ69G5FAV"
        in result.stdout
    )
    await remove(anchored.location, "archive.json")
    result = anchored.verify()
    assert result.returncode == 1
    assert "ARCHIVE-IDENTITY: archive.json: the archive has no identity" in result.stdout


def _same_anchor(anchored: Anchored, azurite):
    where = anchored.anchor_location
    if where["backend"] == "local":
        return LocalStore(where["root"])
    return AzureBlobStore.from_connection_string(
        where["env"]["AZURE_STORAGE_CONNECTION_STRING"], where["env"]["ARCHIVE_CONTAINER"]
    )


async def test_a_whole_segment_deleted_with_its_records(anchored):
    segment, entries = await anchored.segment()
    for entry in entries:
        await remove(anchored.location, entry.name)
    await remove(anchored.location, segment)
    anchored.assert_forgery_passes_alone_and_fails_anchored(f"LEDGER-MISSING: {segment}")
