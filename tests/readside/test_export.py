"""Exports: EML round-trips through Python's email package, JSONL equals search --json, HTML
shows both sides in order (in a real headless browser when one is installed), manifests check."""

from __future__ import annotations

import email
import hashlib
import json
import shutil
import subprocess
from email.policy import default
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bridge.readside.export.eml import message_id_for
from bridge.readside.export.manifest import check_export
from bridge.record import parse_rfc3339
from tests.readside.support import CONV, PENDING_SHA, build_sync, cli_env, run_cli


def test_eml_export_round_trips(archive_location, tmp_path):
    records = build_sync(archive_location["open"])
    by_id = {r.id: r for r in records}
    out = tmp_path / "eml"
    with cli_env(archive_location, tmp_path):
        code, stdout, _ = run_cli("archive", "export", "--format", "eml", "--out", str(out))
    assert code == 0, stdout
    files = sorted(out.rglob("*.eml"))
    messages = [r for r in records if r.kind == "message"]
    assert len(files) == len(messages) == 3  # one per message record; status/policy are not mail
    parsed = {}
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=default)
        parsed[msg["X-Wabridge-Record-Id"]] = msg
    assert set(parsed) == {r.id for r in messages}
    for rid, msg in parsed.items():
        record = by_id[rid]
        assert msg["X-Wabridge-Record-Sha256"] == record.sha256
        assert msg["X-Wabridge-Conversation"] == record.conversation == CONV
        assert msg["X-Wabridge-Platform"] == record.platform
        assert msg["X-Wabridge-Direction"] == record.direction
        assert msg["X-Wabridge-Source-Id"] == record.source_id
        assert parsedate_to_datetime(msg["Date"]) == parse_rfc3339(record.sent_at)
        assert msg["Message-ID"] == message_id_for(record.source_id)
        assert msg.get_body(("plain",)).get_content() == record.text
        got = {}
        for part in msg.iter_attachments():
            data = part.get_content()
            got[hashlib.sha256(data).hexdigest()] = (part.get_filename(), part.get_content_type())
        want = {
            a.sha256: (a.filename, a.mime_type)
            for a in record.attachments
            if a.sha256 != PENDING_SHA
        }
        assert got == want
        if any(a.sha256 == PENDING_SHA for a in record.attachments):
            assert msg["X-Wabridge-Media-Missing"] == PENDING_SHA
    first, reply, photo = messages
    reply_msg = parsed[reply.id]
    assert reply_msg["From"].addresses[0].addr_spec == "Dana.Trader@contoso.com"
    assert reply_msg["To"].addresses[0].display_name == "Zoë Müller"
    assert reply_msg["To"].addresses[0].addr_spec == "447700900123@whatsapp.invalid"
    # Threading: reply_to as a record id and as a source id both point at the first message.
    assert reply_msg["In-Reply-To"] == parsed[first.id]["Message-ID"]
    assert parsed[photo.id]["In-Reply-To"] == parsed[first.id]["Message-ID"]
    assert json.loads(reply_msg["X-Wabridge-Flag"]) == {
        "action": "flag",
        "reason": "Promissory language",
        "rule": "promissory",
    }
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["media_missing"] == [{"sha256": PENDING_SHA, "records": [photo.id]}]
    assert manifest["messages"] == 3 and check_export(out) == []


def test_jsonl_export_equals_search_json_and_manifest_detects_changes(tmp_path):
    from bridge.store.local import LocalStore

    root = tmp_path / "archive"
    location = {"env": {"ARCHIVE_URL": str(root)}}
    build_sync(lambda: LocalStore(root), 10)
    out = tmp_path / "jsonl"
    with cli_env(location, tmp_path):
        _, searched, _ = run_cli("archive", "search", "--json", "--conversation", CONV)
        code, _, _ = run_cli(
            "archive", "export", "--format", "jsonl", "--out", str(out), "--conversation", CONV
        )
        assert code == 0
        assert (out / "records.jsonl").read_text() == searched
        media = sorted(p.name for p in (out / "media").iterdir())
        assert len(media) == 2 and all(
            hashlib.sha256((out / "media" / m).read_bytes()).hexdigest() == m for m in media
        )
        assert check_export(out) == []
        (out / "records.jsonl").write_text(searched.replace("Angebot", "Angebut"))
        assert check_export(out) == ["altered: records.jsonl"]
        code, _, err = run_cli("archive", "export", "--format", "jsonl", "--out", str(out))
        assert code == 2 and "not an empty directory" in err
        # With no selection, everything (as search --json with no filter prints it).
        _, everything, _ = run_cli("archive", "search", "--json")
        run_cli("archive", "export", "--format", "jsonl", "--out", str(tmp_path / "all"))
        exported = (tmp_path / "all" / "records.jsonl").read_text().splitlines()
        # ... plus the audit that search wrote after printing (the export's own comes after it).
        assert exported[:-1] == everything.splitlines()
        assert json.loads(exported[-1])["raw"]["action"] == "search"


class _Transcript(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, str, str]] = []
        self.records: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-record-id" in a:
            self.items.append((a["data-record-id"], a["data-direction"], a["data-kind"]))
            self.records += a["data-records"].split()


def _transcript_order(html: str) -> list[tuple[str, str, str]]:
    parser = _Transcript()
    parser.feed(html)
    return parser.items


def _transcript_records(html: str) -> list[str]:
    parser = _Transcript()
    parser.feed(html)
    return parser.records


def test_html_export_shows_both_sides_in_order(tmp_path):
    from bridge.store.local import LocalStore

    root = tmp_path / "archive"
    records = build_sync(lambda: LocalStore(root))
    out = tmp_path / "html"
    with cli_env({"env": {"ARCHIVE_URL": str(root)}}, tmp_path):
        code, _, _ = run_cli(
            "archive", "export", "--format", "html", "--out", str(out), "--conversation", CONV
        )
    assert code == 0
    page = out / "conversations" / "wa%3A106540352242922%3A447700900123.html"
    first, reply, photo, status, policy = records
    # The read status is shown on the message it reports on, not as an event of its own.
    expected = [(r.id, r.direction, r.kind) for r in (first, reply, photo, policy)]
    assert _transcript_order(page.read_text()) == expected
    assert sorted(_transcript_records(page.read_text())) == sorted(r.id for r in records)
    assert {d for _, d, _ in expected} >= {"inbound", "outbound"}
    html = page.read_text()
    assert "Zoë Müller" in html and "Dana Trader" in html and "⚑ flag: promissory" in html
    assert "media not in the archive: later.pdf" in html and check_export(out) == []
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine (scripts/setup.d/chromium.sh installs it)")
    dom = _headless(browser, page, tmp_path, ["--dump-dom"])
    assert _transcript_order(dom) == expected  # as the browser parsed and laid it out
    shot = tmp_path / "shot.png"
    _headless(browser, page, tmp_path, [f"--screenshot={shot}", "--window-size=900,1100"])
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _headless(browser: str, page: Path, tmp_path: Path, extra: list[str]) -> str:
    profile = tmp_path / f"profile-{len(extra)}-{extra[0][:6]}"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *extra,
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
