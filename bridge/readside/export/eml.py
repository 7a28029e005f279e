"""EML export: one RFC 5322 message per ``message`` record, threaded per conversation, loadable
by mail clients, notmuch and e-discovery tools (Microsoft Purview, Relativity, …).

- ``From``/``To``: the participants with their display names (the business's name, the
  employee's name, the contact's profile name) and stable addresses: an employee by UPN (else
  ``<object id>@teams.invalid``), a contact as ``<wa_id>@whatsapp.invalid`` (or
  ``user.<BSUID>@…``), the business as ``business.<phone number id>@whatsapp.invalid``
  (``.invalid`` is reserved: never routable).
- ``Date``: the record's ``sent_at``, in the export's zone.
- Threads: ``Message-ID`` from the source id; every message after the first of a conversation
  has ``In-Reply-To`` its parent (the message it replies to; for the bot's Teams post, the
  message it relays; for a Cloud API send, the employee's message; else the one before it) and
  ``References`` the conversation's first message and that parent.
- The body is the record's text, exactly (UTF-8, base64, so no line ending is ever rewritten);
  the attachments carry their real file names and MIME types.
- Our metadata in ``X-Wabridge-*`` headers, among them ``X-Wabridge-Record-Id`` and
  ``X-Wabridge-Record-Sha256`` which tie the message to its archive record, and the delivery
  statuses, edits, deletions and reactions of the message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from bridge.ids import is_record_id
from bridge.readside.export.context import ExportContext
from bridge.readside.export.fold import Entry
from bridge.readside.export.mail import (
    EML_POLICY,
    address_of,
    boundary_for,
    header_text,
    message_id_for,
)
from bridge.readside.export.naming import portable_name
from bridge.readside.export.parties import Roster
from bridge.readside.export.zone import Zone
from bridge.record import parse_rfc3339

MESSAGES_DIR = "messages"
__all__ = ["EmlWriter", "message_id_for", "record_to_eml", "eml_path"]


def record_to_eml(
    doc: dict[str, Any],
    attachments: list[tuple[dict[str, Any], bytes | None]],
    roster: Roster,
    zone: Zone,
    *,
    parent: str | None = None,
    root: str | None = None,
    entry: Entry | None = None,
) -> bytes:
    """The RFC 5322 message of one ``message`` record (pure: no I/O). ``parent``/``root`` are
    the Message-IDs it threads under."""
    msg = EmailMessage()
    sender = roster.sender(doc)
    msg["From"] = (
        address_of(sender) if sender else Address("unknown", "unknown", "wabridge.invalid")
    )
    recipients = [address_of(p) for p in roster.recipients(doc)]
    if recipients:
        msg["To"] = recipients
    msg["Date"] = format_datetime(zone.convert(_moment(doc)))
    msg["Subject"] = header_text(_subject(doc, sender.display if sender else None))
    msg["Message-ID"] = message_id_for(doc.get("source_id") or doc["id"])
    if parent:
        msg["In-Reply-To"] = parent
        msg["References"] = " ".join(dict.fromkeys(x for x in (root, parent) if x))
    headers = {
        "X-Wabridge-Record-Id": doc["id"],
        "X-Wabridge-Record-Sha256": doc.get("sha256"),
        "X-Wabridge-Conversation": doc.get("conversation"),
        "X-Wabridge-Platform": doc.get("platform"),
        "X-Wabridge-Direction": doc.get("direction"),
        "X-Wabridge-Kind": doc.get("kind"),
        "X-Wabridge-Type": doc.get("type"),
        "X-Wabridge-Source-Id": doc.get("source_id"),
        "X-Wabridge-Sent-At": doc.get("sent_at"),
        "X-Wabridge-Captured-At": doc.get("captured_at"),
        "X-Wabridge-Reply-To": doc.get("reply_to"),
        "X-Wabridge-Relates-To": doc.get("relates_to"),
        "X-Wabridge-Group": (doc.get("group") or {}).get("id"),
        "X-Wabridge-Imported": "yes" if doc.get("imported") else None,
    }
    for name, value in headers.items():
        if value:
            msg[name] = header_text(value)
    for flag in doc["flags"]:
        msg["X-Wabridge-Flag"] = json.dumps(flag, sort_keys=True, ensure_ascii=True)
    if entry is not None and entry.doc is doc:
        _entry_headers(msg, entry)
    msg.set_content(
        (doc.get("text") or "").encode("utf-8"),
        maintype="text",
        subtype="plain",
        cte="base64",
        params={"charset": "utf-8"},
    )
    for att, data in attachments:
        if data is None:
            msg["X-Wabridge-Media-Missing"] = header_text(att.get("sha256") or "no hash")
            continue
        maintype, _, subtype = (att.get("mime_type") or "application/octet-stream").partition("/")
        msg.add_attachment(
            data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=header_text(attachment_filename(att), 200),
        )
    if msg.is_multipart():
        msg.set_boundary(boundary_for(doc["id"], doc.get("sha256") or ""))
    return msg.as_bytes(policy=EML_POLICY)


def _entry_headers(msg: EmailMessage, entry: Entry) -> None:
    """What later records say about this message: statuses, failures, edits, deletions."""
    _, statuses = entry.delivery()
    for status in statuses:
        msg["X-Wabridge-Status"] = header_text(
            f"{status.get('status')} {status['sent_at']} record {status['id']}"
        )
    for failure in entry.failures:
        msg["X-Wabridge-Failure"] = header_text(
            f"{failure['sent_at']} record {failure['id']}: {failure.get('text') or ''}"
        )
    for edit in entry.edits:
        msg["X-Wabridge-Edit"] = header_text(f"{edit['sent_at']} record {edit['id']}")
    for delete in entry.deletes:
        msg["X-Wabridge-Deleted"] = header_text(f"{delete['sent_at']} record {delete['id']}")
    for value, records in entry.reaction_state():
        msg["X-Wabridge-Reaction"] = header_text(
            f"{value} " + " ".join(f"record {r['id']}" for r in records)
        )


def _moment(doc: dict[str, Any]) -> datetime:
    try:
        return parse_rfc3339(doc["sent_at"])
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)


def attachment_filename(att: dict[str, Any]) -> str:
    return att.get("filename") or f"{att.get('sha256') or 'attachment'}"


def _subject(doc: dict[str, Any], who: str | None) -> str:
    text = " ".join((doc.get("text") or "").split())
    snippet = text if len(text) <= 60 else text[:57] + "..."
    where = "Teams" if doc.get("platform") == "teams" else "WhatsApp"
    who = who or "unknown"
    return (
        f"[{where}] {who}: {snippet}"
        if snippet
        else f"[{where}] {who} ({doc.get('type') or 'message'})"
    )


def eml_path(out: Path, doc: dict[str, Any]) -> Path:
    conv = portable_name(doc.get("conversation") or "internal")
    stamp = re.sub(r"[^0-9]", "", doc.get("sent_at") or "")[:14] or "0"
    return out / MESSAGES_DIR / conv / f"{stamp}-{portable_name(doc['id'])}.eml"


class EmlWriter:
    """Writes one ``.eml`` per ``message`` record of each conversation, threaded; records of
    other kinds are not mail messages (their facts ride on the message they concern)."""

    def __init__(
        self, ctx: ExportContext, reply_lookup: Callable[[str], str | None] | None = None
    ) -> None:
        self.ctx = ctx
        self._reply_lookup = reply_lookup  # record id -> source id, for replies outside
        self.messages = 0
        self.folded = 0  # records shown as X-Wabridge-* headers of the message they concern
        self.not_messages: list[str] = []  # records of no message in the selection

    async def conversation(self, roster: Roster, entries: list[Entry]) -> None:
        items: list[tuple[dict[str, Any], Entry]] = []
        for entry in entries:
            if entry.doc["kind"] == "message":
                items.append((entry.doc, entry))
            items += [(doc, entry) for doc in entry.sends + entry.relays]
        items.sort(key=lambda item: (item[0]["sent_at"], item[0]["id"]))
        for entry in entries:
            if entry.doc["kind"] == "message":
                self.folded += len(entry.records) - 1 - len(entry.sends) - len(entry.relays)
            else:
                self.not_messages += [r["id"] for r in entry.records]
        root: str | None = None
        previous: str | None = None
        for doc, entry in items:
            own = message_id_for(doc.get("source_id") or doc["id"])
            parent = self._parent(doc, entry, previous)
            files = []
            for att in entry.attachments if doc is entry.doc else doc["attachments"]:
                path = await self.ctx.media.attachment(att, doc["id"])
                files.append((att, path.read_bytes() if path else None))

            def render(_: Any, doc=doc, entry=entry, files=files, parent=parent, root=root):
                return record_to_eml(
                    doc, files, roster, self.ctx.zone, parent=parent, root=root, entry=entry
                )

            data = self.ctx.guard(_One(doc), render, lambda _: None)
            if data is None:
                continue
            target = eml_path(self.ctx.out, doc)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            self.messages += 1
            root = root or own
            previous = own

    def _parent(self, doc: dict[str, Any], entry: Entry, previous: str | None) -> str | None:
        if doc is not entry.doc:  # a relay post or a send: under the message it carries
            return message_id_for(entry.doc.get("source_id") or entry.doc["id"])
        if entry.reply_to is not None:
            target = entry.reply_to.doc
            return message_id_for(target.get("source_id") or target["id"])
        reply = doc.get("reply_to")
        if reply:
            if is_record_id(reply) and self._reply_lookup is not None:
                reply = self._reply_lookup(reply) or reply
            return message_id_for(reply)
        return previous

    async def finish(self) -> dict[str, Any]:
        self.ctx.media.discard()  # the media are inside the files now
        return {
            "messages": self.messages,
            "records_as_headers": self.folded,
            "records_in_no_message": self.not_messages,
            "eml_note": "one .eml per message record; statuses, edits, deletions, reactions and "
            "failures are X-Wabridge-* headers of the message they concern; "
            "records_in_no_message (policy, audit, system events, and reports on messages "
            "outside the selection) are not mail: export them as jsonl, html or rsmf.",
        }


class _One:
    """One record in the shape :meth:`ExportContext.guard` notes on failure."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.records = [doc]
