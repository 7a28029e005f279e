"""Exports stand up to what the archive may hold: names and ids carrying CR/LF (no header
injection), damaged records and a record a writer cannot render (the export goes on, the record
is listed and copied as stored), and the same query gives the same files, byte for byte."""

from __future__ import annotations

import asyncio
import email
import json
from email import policy
from pathlib import Path

import pytest

from bridge.archive import Archive, dedupe_key_for
from bridge.readside.export import ExportOptions, export_selection
from bridge.readside.export.manifest import check_export
from bridge.readside.export.rsmf_check import check_file
from bridge.readside.index import ArchiveIndex
from bridge.readside.query import RecordQuery
from bridge.record import Party, Record
from bridge.store.local import LocalStore
from tests.readside.export_archives import fixture_archive
from tests.readside.support import cli_env, run_cli
from tests.whatsapp.fixtures import ANA_CONVERSATION

EVIL_CONV = "wa:106540352242922:447700900666"
EVIL_NAME = "Eve\r\nBcc: attacker@example.com"


def evil_records() -> list[Record]:
    eve = Party("447700900666", EVIL_NAME, "whatsapp")
    business = Party("15550783881", None, "whatsapp")
    base = dict(
        conversation=EVIL_CONV,
        platform="whatsapp",
        direction="inbound",
        kind="message",
        type="text",
        captured_at="",
        sender=eve,
        recipients=(business,),
    )
    return [
        Record(
            **base,
            source_id="wamid.evil\r\nX-Evil: 1",
            sent_at="2026-10-01T08:00:00.000Z",
            text="hi\r\nX-Injected: yes\r\n\r\n--boundary",
        ).sealed(),
        Record(
            **{**base, "sender": Party("447700900666", 'Müller, Zoë "Z"', "whatsapp")},
            source_id="wamid.comma",
            sent_at="2026-10-01T08:01:00.000Z",
            text="a name with a comma and quotes",
        ).sealed(),
    ]


def _manifest_of(path: Path) -> str:
    import io
    import zipfile

    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    [part] = msg.iter_attachments()
    with zipfile.ZipFile(io.BytesIO(part.get_payload(decode=True))) as zf:
        return zf.read("rsmf_manifest.json").decode("utf-8")


def _fields(record: Record) -> dict:
    from dataclasses import fields

    return {
        f.name: getattr(record, f.name) for f in fields(record) if f.name not in ("id", "sha256")
    }


def _put_all(root: Path, records: list[Record]) -> None:
    async def go():
        archive = Archive(LocalStore(root))
        try:
            await archive.store.ensure_ready()
            for record in records:
                await archive.put(record, dedupe_key_for(record))
        finally:
            await archive.close()

    asyncio.run(go())


def _export(root: Path, tmp: Path, fmt: str, name: str, *extra: str) -> tuple[int, str, Path]:
    out = tmp / name
    with cli_env({"env": {"ARCHIVE_URL": str(root)}}, tmp):
        code, stdout, stderr = run_cli(
            "archive", "export", "--format", fmt, "--out", str(out), "--tz", "UTC", *extra
        )
    return code, stdout + stderr, out


def test_cr_lf_in_names_ids_and_text_never_reach_a_header(tmp_path):
    root = tmp_path / "archive"
    _put_all(root, evil_records())
    code, said, out = _export(root, tmp_path, "eml", "eml", "--conversation", EVIL_CONV)
    assert code == 0, said
    for path in out.rglob("*.eml"):
        data = path.read_bytes()
        msg = email.message_from_bytes(data, policy=policy.default)
        assert msg["Bcc"] is None and msg["X-Evil"] is None and msg["X-Injected"] is None
        assert all(not part.defects for part in msg.walk())
    evil = next(
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in out.rglob("*.eml")
        if b"X-Evil" in p.read_bytes()
    )
    assert evil["From"].addresses[0].display_name == "Eve\\r\\nBcc: attacker@example.com"
    assert evil["X-Wabridge-Source-Id"] == "wamid.evil\\r\\nX-Evil: 1"
    assert evil.get_body(("plain",)).get_content() == "hi\r\nX-Injected: yes\r\n\r\n--boundary"
    code, said, out = _export(root, tmp_path, "rsmf", "rsmf", "--conversation", EVIL_CONV)
    assert code == 0, said
    [path] = out.rglob("*.rsmf")
    assert check_file(path) == []
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    # the contact's later profile name, with a comma and quotes, CSV-quoted in the roll-up
    assert msg["X-RSMF-Participants"] == 'WhatsApp Business +15550783881,"Müller, Zoë ""Z"""'
    # ... and when the last name seen is the one with CR/LF, it is shown escaped there too
    later = {**_fields(evil_records()[0]), "source_id": "wamid.later"}
    _put_all(root, [Record(**{**later, "sent_at": "2026-10-01T08:02:00.000Z"}).sealed()])
    code, said, out = _export(root, tmp_path, "rsmf", "rsmf2", "--conversation", EVIL_CONV)
    assert code == 0, said
    [path] = out.rglob("*.rsmf")
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert check_file(path) == [] and msg["Bcc"] is None
    assert msg["X-RSMF-Participants"] == (
        "WhatsApp Business +15550783881,Eve\\r\\nBcc: attacker@example.com"
    )


def test_a_damaged_record_is_listed_and_copied_and_the_rest_exported(tmp_path):
    root = tmp_path / "archive"
    records = evil_records()
    _put_all(root, records)
    with cli_env({"env": {"ARCHIVE_URL": str(root)}}, tmp_path):
        run_cli("archive", "search")  # the index now knows both records
    name = next(p for p in (root / "records").rglob("*.json") if b"wamid.comma" in p.read_bytes())
    name.write_bytes(b'{"id": "01DAMAGED", "text": tru')  # damaged after it was indexed
    for fmt in ("eml", "html", "rsmf"):
        code, said, out = _export(root, tmp_path, fmt, fmt, "--conversation", EVIL_CONV)
        assert code == 0, said
        assert "1 record(s) could not be rendered" in said
        manifest = json.loads((out / "manifest.json").read_text())
        [bad] = manifest["records_not_rendered"]
        assert bad["id"] == records[1].id and "JSONDecodeError" in bad["reason"]
        assert (out / bad["file"]).read_bytes() == b'{"id": "01DAMAGED", "text": tru'
        assert check_export(out) == []
        files = [p for p in out.rglob("*") if p.is_file() and "unrendered" not in p.parts]
        if fmt == "rsmf":  # the good record is there (its id is in the zip's manifest)
            [path] = files = [p for p in files if p.suffix == ".rsmf"]
            assert check_file(path) == []
            assert records[0].id in _manifest_of(path)
        else:
            assert any(records[0].id in p.read_text(errors="replace") for p in files)


def test_a_record_a_writer_cannot_render_does_not_stop_the_export(tmp_path, monkeypatch):
    root = tmp_path / "archive"
    records = evil_records()
    _put_all(root, records)
    import bridge.readside.export.html as html_module
    import bridge.readside.export.rsmf_manifest as manifest_module

    def broken(render):
        def wrapper(self, entry, *args):
            if entry.id == records[0].id:
                raise RuntimeError("renderer fault")
            return render(self, entry, *args)

        return wrapper

    monkeypatch.setattr(html_module.Transcript, "entry", broken(html_module.Transcript.entry))
    monkeypatch.setattr(
        manifest_module.SliceBuilder, "event", broken(manifest_module.SliceBuilder.event)
    )
    for fmt in ("html", "rsmf"):
        code, said, out = _export(root, tmp_path, fmt, fmt, "--conversation", EVIL_CONV)
        assert code == 0, said
        manifest = json.loads((out / "manifest.json").read_text())
        [bad] = manifest["records_not_rendered"]
        assert bad["id"] == records[0].id and bad["reason"] == "RuntimeError: renderer fault"
        assert json.loads((out / bad["file"]).read_bytes())["id"] == records[0].id
        if fmt == "rsmf":
            [path] = out.rglob("*.rsmf")
            assert check_file(path) == []  # a placeholder event stands in, the file is sound
            assert "could not be rendered here" in path.read_text()
        else:
            page = next(out.rglob("conversations/wa*.html")).read_text()
            assert "could not be shown here" in page and "a name with a comma" in page


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("same") / "archive"
    fixture_archive(root)
    return root


@pytest.mark.parametrize("fmt", ["eml", "html", "jsonl", "rsmf"])
def test_the_same_query_gives_the_same_bytes(fixture_root, tmp_path, fmt):
    runs = []
    for n in (1, 2):
        code, said, out = _export(
            fixture_root, tmp_path, fmt, f"run{n}", "--conversation", ANA_CONVERSATION
        )
        assert code == 0, said
        manifest = json.loads((out / "manifest.json").read_text())
        manifest.pop("created_at")
        runs.append(((out / "SHA256SUMS").read_text(), manifest))
    assert runs[0] == runs[1]
    assert runs[0][1]["selection"]["records"] == runs[0][1]["records"] > 20
    assert len(runs[0][0].splitlines()) == len(runs[0][1]["files"]) >= 1


def test_progress_is_reported_record_by_record(fixture_root, tmp_path):
    seen: list[tuple[int, int | None]] = []

    async def go():
        archive = Archive(LocalStore(fixture_root))
        index = ArchiveIndex.for_archive(archive, str(tmp_path / "index.sqlite3"))
        try:
            return await export_selection(
                archive,
                index,
                RecordQuery(),
                "rsmf",
                tmp_path / "out",
                actor={"id": "test"},
                progress=lambda done, total: seen.append((done, total)),
                options=ExportOptions(tz="UTC"),
            )
        finally:
            index.close()
            await archive.close()

    result = asyncio.run(go())
    assert result.rsmf_problems == [] and result.records == len(seen)
    assert [d for d, _ in seen] == list(range(1, result.records + 1))
    assert {t for _, t in seen} == {result.records}


def test_a_defective_rsmf_file_is_reported_never_passed_over(tmp_path, monkeypatch):
    root = tmp_path / "archive"
    _put_all(root, evil_records())
    import bridge.readside.export.rsmf_manifest as manifest_module

    participants = manifest_module.SliceBuilder.participants
    # a fault that would drop the contact from the participants the events name
    monkeypatch.setattr(
        manifest_module.SliceBuilder, "participants", lambda self: participants(self)[:1]
    )
    code, said, out = _export(root, tmp_path, "rsmf", "rsmf", "--conversation", EVIL_CONV)
    assert code == 1
    assert "RSMF check: rsmf/" in said and "not defined" in said
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rsmf_problems"]
