"""The pure Teams converter: an employee's activity -> archive records, from JSON alone."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.convert.teams import (
    employee_change_record,
    employee_message_record,
    is_file_attachment,
    plain_text,
)
from bridge.record import Attachment, Party

DATA = Path(__file__).resolve().parents[1] / "data" / "teams"
CONTACT = Party("4915112345678", None, "whatsapp")
CONVERSATION = "wa:106540352242922:4915112345678"


def load(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def test_a_reply_is_plain_text_without_the_mention_or_markup():
    activity = load("channel_reply")
    assert plain_text(activity) == "Yes, it ships tomorrow & arrives Friday"
    files = [a for a in activity["attachments"] if is_file_attachment(a)]
    assert [a["name"] for a in files] == ["terms.pdf"]  # not the HTML copy of the message


def test_an_employee_message_record():
    activity = load("channel_reply")
    pdf = Attachment("ab" * 32, "application/pdf", 10, "terms.pdf")
    record = employee_message_record(
        activity,
        conversation=CONVERSATION,
        contact=CONTACT,
        upn="ann@contoso.com",
        attachments=[pdf],
    ).sealed()
    assert (record.platform, record.direction, record.kind, record.type) == (
        "teams",
        "outbound",
        "message",
        "document",
    )
    assert record.sender.id == "0b7e3f4c-aaaa-4bbb-8ccc-000000000001"
    assert record.sender.upn == "ann@contoso.com" and record.sender.name == "Ann Employee"
    assert record.recipients == (CONTACT,) and record.source_id == "1764350000100"
    assert record.sent_at == "2026-11-28T18:00:00.123Z" and record.raw == activity
    assert record.text == "Yes, it ships tomorrow & arrives Friday"


def test_edits_and_deletions_point_at_the_message_they_change():
    edit = employee_change_record(
        load("message_edit"), conversation=CONVERSATION, contact=CONTACT, upn=None
    )
    delete = employee_change_record(
        load("message_delete"), conversation=CONVERSATION, contact=CONTACT, upn=None
    )
    assert (edit.kind, edit.text, edit.relates_to) == (
        "edit",
        "Yes, it ships on Monday",
        "1764350000100",
    )
    assert (delete.kind, delete.text, delete.relates_to) == ("delete", None, "1764350000100")
