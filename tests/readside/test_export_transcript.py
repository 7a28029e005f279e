"""The HTML transcript as a reviewer reads it, of a conversation played through the real service:
each event once (the bot's Teams post folded into the message it relays), edits, deletions,
reactions, reads and failures on the message they concern (a failure never drawn as a tick), the
contact's Markdown and HTML shown literally, times in the chosen zone with their offset."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.readside import scenario
from tests.readside.support import cli_env, run_cli
from tests.readside.test_export import _headless

CONV = f"wa:106540352242922:{scenario.CONTACT}"
PAGE = "conversations/wa%3A106540352242922%3A447700900123.html"


class _Entries(HTMLParser):
    """Each transcript entry: its attributes and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[dict] = []
        self.tags: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-record-id" in a:
            self.entries.append({**a, "text": ""})
            self._depth = 1
        elif self._depth:
            self._depth += tag not in ("img", "br")
            self.tags.append(tag)

    def handle_endtag(self, tag):
        if self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth and self.entries:
            self.entries[-1]["text"] += data


def entries_of(page: str) -> list[dict]:
    parser = _Entries()
    parser.feed(page)
    return parser.entries


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review")
    archive = tmp / "archive"
    scenario.play_sync(str(archive))
    with cli_env({"env": {"ARCHIVE_URL": str(archive)}}, tmp):
        _, listed, _ = run_cli("archive", "search", "--json", "--conversation", CONV)
    return {"tmp": tmp, "archive": archive, "records": [json.loads(x) for x in listed.splitlines()]}


def export_html(played, name: str, *extra: str, env: dict | None = None) -> Path:
    out = played["tmp"] / name
    with cli_env({"env": {"ARCHIVE_URL": str(played["archive"]), **(env or {})}}, played["tmp"]):
        code, stdout, stderr = run_cli(
            "archive", "export", "--format", "html", "--out", str(out), "--conversation", CONV,
            "--business-name", "Contoso Capital", *extra,
        )  # fmt: skip
    assert code == 0, stdout + stderr
    return out / PAGE


def test_each_event_once_with_its_marks(played):
    page = export_html(played, "london", "--tz", "Europe/London").read_text()
    entries = entries_of(page)
    records = played["records"]
    # every record of the conversation is on the page exactly once, folded into its event
    shown = [rid for e in entries for rid in e["data-records"].split()]
    assert sorted(shown) == sorted(r["id"] for r in records)
    relays = [r for r in records if r["type"] == "relay"]
    assert len(relays) == 5 and not {r["id"] for r in relays} & {
        e["data-record-id"] for e in entries
    }
    assert "**Zoë Müller" not in page  # the relay post's Markdown is never shown
    first, picture, price, late, refused = entries
    # the contact's edit: the text as it stands, the text before it, on the message
    assert scenario.EDITED_TEXT in first["text"] and first["data-edited"] == "1"
    assert "✎ edited by Zoë Müller (+447700900123)" in first["text"]
    assert f"before: “{scenario.FIRST_TEXT}”" in first["text"]
    # the deletion on the message deleted, which stays readable
    assert picture["data-deleted"] == "yes" and "the term sheet" in picture["text"]
    assert "🗑 deleted for everyone on WhatsApp by Zoë Müller" in picture["text"]
    # the employee's reply: delivered and read, the reaction to it, its edit in Teams
    assert price["data-delivery"] == "read" and "✓✓ read" in price["text"]
    assert "👍 Zoë Müller (+447700900123)" in price["text"]
    assert "The price is 98.25 (indicative)." in price["text"]
    assert "✎ edited in Teams (the WhatsApp copy already sent is unchanged)" in price["text"]
    assert "Dana Trader (dana.trader@contoso.com) · via Teams" in price["text"]
    # failures: drawn as failures, never as a tick
    assert late["data-delivery"] == "failed" and "✗ not delivered" in late["text"]
    assert "131047 Re-engagement message" in late["text"]
    assert (
        refused["data-delivery"] == "failed"
        and "(#131026) Message undeliverable" in refused["text"]
    )
    assert "Teams → WhatsApp (not sent)" in refused["text"]
    assert not re.search(r"✓+ failed", page)


def test_the_contacts_markdown_and_html_are_shown_literally(played):
    page = export_html(played, "literal", "--tz", "UTC").read_text()
    assert html.escape(scenario.FIRST_TEXT) in page and "<b>not bold</b>" not in page
    parser = _Entries()
    parser.feed(page)
    assert "b" not in parser.tags and "strong" not in parser.tags and "em" not in parser.tags


def test_times_in_the_chosen_zone_with_the_offset(played):
    london = export_html(played, "zone-london", "--tz", "Europe/London").read_text()
    assert "2026-07-01 10:00:00 +01:00 · WhatsApp · text" in london  # 09:00 UTC, summer time
    assert "times in Europe/London" in london
    kolkata = export_html(played, "zone-kolkata", "--tz", "Asia/Kolkata").read_text()
    assert "2026-07-01 14:30:00 +05:30 · WhatsApp · text" in kolkata
    assert "Wednesday 1 July 2026" in kolkata and "times in Asia/Kolkata" in kolkata
    # no --tz: the machine's zone (here set through TZ, as an operator's shell would)
    local = export_html(played, "zone-local", env={"TZ": "America/New_York"}).read_text()
    assert "2026-07-01 05:00:00 -04:00 · WhatsApp · text" in local
    assert "times in America/New_York" in local
    with cli_env({"env": {"ARCHIVE_URL": str(played["archive"])}}, played["tmp"]):
        code, _, err = run_cli(
            "archive", "export", "--format", "html", "--out", str(played["tmp"] / "bad-zone"),
            "--tz", "Mars/Olympus",
        )  # fmt: skip
    assert code == 2 and "unknown time zone 'Mars/Olympus'" in err
    assert not (played["tmp"] / "bad-zone").exists()


def test_the_transcript_in_a_real_browser(played, tmp_path):
    page = export_html(played, "browser", "--tz", "Europe/London")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine (scripts/setup.d/chromium.sh installs it)")
    dom = _headless(browser, page, tmp_path, ["--dump-dom"])
    assert [e["data-records"] for e in entries_of(dom)] == [
        e["data-records"] for e in entries_of(page.read_text())
    ]
    assert "<script" not in dom and os.path.getsize(page) > 0
