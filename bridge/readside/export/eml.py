"""EML export: one RFC 5322 message per chat message, loadable by mail clients and e-discovery
tools (Microsoft Purview, Relativity, …).

- ``From``/``To``: the participants — an employee by UPN, a WhatsApp contact as
  ``<digits>@whatsapp.invalid`` (``.invalid`` is reserved: never routable), display names kept.
- ``Date``: the record's ``sent_at``; ``Message-ID``/``In-Reply-To``/``References`` from the
  source ids, so a client threads replies.
- The body is the record's text, exactly (UTF-8, base64, so no line ending is ever rewritten);
  the attachments carry their real file names and MIME types.
- Our metadata in ``X-Wabridge-*`` headers, among them ``X-Wabridge-Record-Id`` and
  ``X-Wabridge-Record-Sha256`` which tie the message to its archive record.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from bridge.ids import is_record_id
from bridge.readside.export.media import MediaCopier
from bridge.readside.export.naming import portable_name
from bridge.readside.query import phone_key
from bridge.record import parse_rfc3339

MESSAGES_DIR = "messages"
#: CRLF line ends (RFC 5322); headers are not folded below the hard limit of 998, so a hash or
#: an id is never split across lines (readers differ in how they unfold).
EML_POLICY = SMTP.clone(max_line_length=998)
_DOT_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_ADDR_LOCAL = re.compile(r"[^A-Za-z0-9._+-]")


def message_id_for(token: str) -> str:
    """``<token@wabridge.invalid>`` for a source id or record id (hashed if not a dot-atom)."""
    if not _DOT_ATOM.match(token) or len(token) > 200:
        token = "h." + hashlib.sha256(token.encode("utf-8")).hexdigest()
    return f"<{token}@wabridge.invalid>"


def party_address(party: dict[str, Any] | None) -> Address | None:
    """A participant as a mail address (see the module docstring)."""
    if not party or not party.get("id"):
        return None
    name = party.get("name") or ""
    upn = party.get("upn")
    if isinstance(upn, str) and "@" in upn:
        local, _, domain = upn.rpartition("@")
        return Address(display_name=name, username=local, domain=domain)
    ident = str(party["id"])
    platform = party.get("platform") or "whatsapp"
    tel = phone_key(ident)
    local = (
        tel[4:] if tel and platform == "whatsapp" else _ADDR_LOCAL.sub("_", ident)[:64] or "unknown"
    )
    return Address(
        display_name=name, username=local, domain=f"{_ADDR_LOCAL.sub('', platform)}.invalid"
    )


def record_to_eml(
    doc: dict[str, Any],
    attachments: list[tuple[dict[str, Any], bytes | None]],
    *,
    reply_token: str | None = None,
) -> bytes:
    """The RFC 5322 message of one ``message`` record (pure: no I/O)."""
    msg = EmailMessage()
    # RFC 5322 requires From and Date: a record without a sender still gets a (non-routable) one.
    msg["From"] = party_address(doc.get("sender")) or Address(
        "unknown", "unknown", "wabridge.invalid"
    )
    recipients = [a for a in (party_address(p) for p in doc.get("recipients") or []) if a]
    if recipients:
        msg["To"] = recipients
    msg["Date"] = format_datetime(_moment(doc))
    msg["Subject"] = _subject(doc)
    msg["Message-ID"] = message_id_for(doc.get("source_id") or doc["id"])
    if reply_token:
        msg["In-Reply-To"] = message_id_for(reply_token)
        msg["References"] = message_id_for(reply_token)
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
    }
    for name, value in headers.items():
        if value:
            msg[name] = str(value)
    for flag in doc.get("flags") or []:
        msg["X-Wabridge-Flag"] = json.dumps(flag, sort_keys=True, ensure_ascii=True)
    msg.set_content(
        (doc.get("text") or "").encode("utf-8"),
        maintype="text",
        subtype="plain",
        cte="base64",
        params={"charset": "utf-8"},
    )
    for att, data in attachments:
        if data is None:
            msg["X-Wabridge-Media-Missing"] = str(att.get("sha256"))
            continue
        maintype, _, subtype = (att.get("mime_type") or "application/octet-stream").partition("/")
        msg.add_attachment(
            data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment_filename(att),
        )
    return msg.as_bytes(policy=EML_POLICY)


def _moment(doc: dict[str, Any]) -> datetime:
    for key in ("sent_at", "captured_at"):
        try:
            return parse_rfc3339(str(doc.get(key) or ""))
        except ValueError:
            continue
    return datetime(1970, 1, 1, tzinfo=UTC)


def attachment_filename(att: dict[str, Any]) -> str:
    return att.get("filename") or f"{att.get('sha256') or 'attachment'}"


def _subject(doc: dict[str, Any]) -> str:
    sender = doc.get("sender") or {}
    who = sender.get("name") or sender.get("upn") or sender.get("id") or "unknown"
    text = " ".join((doc.get("text") or "").split())
    snippet = text if len(text) <= 60 else text[:57] + "..."
    where = "Teams" if doc.get("platform") == "teams" else "WhatsApp"
    return (
        f"[{where}] {who}: {snippet}"
        if snippet
        else f"[{where}] {who} ({doc.get('type') or 'message'})"
    )


def eml_path(out: Path, doc: dict[str, Any]) -> Path:
    conv = portable_name(doc.get("conversation") or "internal")
    stamp = re.sub(r"[^0-9]", "", doc.get("sent_at") or "")[:14] or "0"
    return out / MESSAGES_DIR / conv / f"{stamp}-{doc['id']}.eml"


class EmlWriter:
    """Writes one ``.eml`` per ``message`` record; other kinds are not mail messages."""

    def __init__(self, out: Path, media: MediaCopier, reply_lookup) -> None:
        self._out = out
        self._media = media
        self._reply_lookup = reply_lookup  # record id -> source id (or None)
        self.messages = 0

    async def add(self, doc: dict[str, Any], data: bytes) -> None:
        if doc.get("kind") != "message":
            return
        files = []
        for att in doc.get("attachments") or []:
            path = await self._media.fetch(att.get("sha256"), doc["id"])
            files.append((att, path.read_bytes() if path else None))
        reply = doc.get("reply_to")
        if reply and is_record_id(reply):
            reply = self._reply_lookup(reply) or reply
        target = eml_path(self._out, doc)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(record_to_eml(doc, files, reply_token=reply))
        self.messages += 1

    async def finish(self) -> dict[str, Any]:
        # The media were needed only to build the messages; they are inside them now.
        media_dir = self._out / "media"
        if media_dir.exists():
            for path in media_dir.iterdir():
                path.unlink()
            media_dir.rmdir()
        return {"messages": self.messages}
