"""``WABRIDGE_BLOB_WRITER``: records written through the SDK (``sdk``) are those the default
writer (``rest``) writes — same bytes, names, content type and tags, deduplicated the same —
and a bad value stops the service and the CLI with a line naming the variable."""

from __future__ import annotations

import json

import pytest
from azure.storage.blob.aio import BlobServiceClient

from bot.settings import ArchiveSettings, ConfigError
from bridge.archive import Archive
from bridge.record import Party, Record
from tests.conftest import new_container_name
from tests.support.processes import clean_env, wabridge
from tests.support.records import inbound_text


def _records() -> list[Record]:
    """Sealed once, so that both archives get the very same records."""
    awkward = Record(
        conversation="100000000000001:group:120363-0001@g.us",
        platform="whatsapp",
        direction="inbound",
        kind="reaction",
        type="reaction",
        source_id="wamid.HBgL+/=ÄÖ 01",
        sent_at="2026-11-29T10:00:00.000Z",
        captured_at="",
        sender=Party(id="15550000002", name="Zoë O'Brien & Co", platform="whatsapp"),
        recipients=(),
        text="👍",
    )
    return [r.sealed() for r in [*(inbound_text(i) for i in range(5)), awkward]]


async def _contents(conn: str, container: str) -> dict[str, tuple]:
    """Every record blob: its bytes, content type, MD5 and index tags."""
    out = {}
    async with BlobServiceClient.from_connection_string(conn) as service:
        client = service.get_container_client(container)
        async for item in client.list_blobs(name_starts_with="records/"):
            blob = client.get_blob_client(item.name)
            props = await blob.get_blob_properties()
            data = await (await blob.download_blob()).readall()
            out[item.name] = (
                data,
                props.content_settings.content_type,
                bytes(props.content_settings.content_md5 or b""),
                await blob.get_blob_tags(),
            )
    return out


async def test_the_sdk_writer_writes_the_same_records_names_and_tags_and_dedupes_the_same(azurite):
    conn, records = azurite.connection_string, _records()
    seen = {}
    for writer in ("rest", "sdk"):
        container = new_container_name()
        settings = ArchiveSettings.from_env(
            {
                "AZURE_STORAGE_CONNECTION_STRING": conn,
                "ARCHIVE_CONTAINER": container,
                "WABRIDGE_BLOB_WRITER": writer,
            }
        )
        assert settings.blob_writer == writer
        archive = Archive(settings.open_store())
        try:
            await archive.store.ensure_ready()
            assert archive.store.blob_writer == writer
            first = [await archive.put(r) for r in records]
            assert all(p.created for p in first)
            # The source retries: a new capture of each event (another id) finds the first.
            again = [await archive.put(inbound_text(i)) for i in range(5)]
            assert [p.created for p in again] == [False] * 5
            assert [p.record.id for p in again] == [r.id for r in records[:5]]
            assert [p.name for p in again] == [p.name for p in first[:5]]
        finally:
            await archive.close()
        seen[writer] = await _contents(conn, container)
        assert len(seen[writer]) == len(records)
    assert seen["sdk"] == seen["rest"]
    data, content_type, md5, tags = seen["rest"][first[-1].name]
    assert data == records[-1].canonical() and content_type == "application/json" and md5
    assert tags["conversation"] == "100000000000001:group:120363-0001_g.us"


@pytest.mark.parametrize("value", ["SDK", "fast", "rest,sdk", " sdk"])
def test_a_bad_value_is_refused_naming_the_variable(value):
    with pytest.raises(ConfigError, match=r"^WABRIDGE_BLOB_WRITER must be rest or sdk, not "):
        ArchiveSettings.from_env({"WABRIDGE_BLOB_WRITER": value})
    assert ArchiveSettings.from_env({}).blob_writer == "rest"
    assert ArchiveSettings.from_env({"WABRIDGE_BLOB_WRITER": ""}).blob_writer == "rest"


@pytest.mark.parametrize(
    "command",
    [
        ["archive", "search", "--json"],
        ["archive", "verify"],
        ["serve", "--port", "0"],
    ],
)
def test_the_cli_and_the_service_stop_with_exit_2_and_one_line(tmp_path, command):
    env = clean_env(
        ARCHIVE_URL=str(tmp_path / "archive"), WABRIDGE_BLOB_WRITER="quick", WABRIDGE_DEV_MODE="1"
    )
    result = wabridge(*command, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "WABRIDGE_BLOB_WRITER must be rest or sdk, not 'quick'" in lines[0]
    assert not (tmp_path / "archive").exists()


async def test_the_read_side_writes_its_audit_records_through_the_sdk_when_told(azurite, tmp_path):
    container = new_container_name()
    env = {
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "ARCHIVE_CONTAINER": container,
    }
    archive = Archive(ArchiveSettings.from_env(env).open_store())
    try:
        await archive.store.ensure_ready()
        await archive.put(inbound_text(1))
    finally:
        await archive.close()
    result = wabridge(
        "archive",
        "search",
        "--json",
        cwd=tmp_path,
        env=clean_env(**env, WABRIDGE_BLOB_WRITER="sdk"),
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["source_id"] for line in result.stdout.splitlines()] == [
        inbound_text(1).source_id
    ]
    audits = await _contents(azurite.connection_string, container)
    assert any(json.loads(data)["kind"] == "audit" for data, *_ in audits.values())
