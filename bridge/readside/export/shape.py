"""Stored records, reduced to the shape the export writers read, whatever the record holds.

An export must never stop half-way on a bad record: a record written by an older version, by
hand, or damaged still gets exported. :func:`clean_doc` gives every field the type the writers
expect (strings or None, lists of objects), keeps the fields that WhatsApp as it is in 2026
adds (``group``, ``call``, ``imported``, ``delivery``; party ``wa_id``, ``user_id``,
``parent_user_id``, ``username``), and drops ``raw`` (the record of original form stays in the
archive and in the JSONL export; the other formats show what a reader needs).
"""

from __future__ import annotations

import re
from typing import Any

from bridge.ids import is_record_id, record_id_time
from bridge.record import parse_rfc3339, rfc3339

PARTY_FIELDS = ("id", "name", "platform", "upn", "wa_id", "user_id", "parent_user_id", "username")
_STR_FIELDS = (
    "conversation",
    "platform",
    "direction",
    "kind",
    "type",
    "source_id",
    "text",
    "reply_to",
    "relates_to",
    "status",
    "sha256",
    "schema",
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
EPOCH = "1970-01-01T00:00:00.000Z"


class BadRecord(ValueError):
    """A stored record that cannot be exported as a record at all (no id)."""


def text(value: Any) -> str | None:
    """A string as given; a number or other scalar as its text; empty and None as None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return None


def clean_party(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    party = {k: text(value.get(k)) for k in PARTY_FIELDS if text(value.get(k)) is not None}
    if not party.get("id"):
        party["id"] = party.get("wa_id") or party.get("user_id") or party.get("username")
    if not party.get("id"):
        return None
    party.setdefault("platform", "whatsapp")
    return party


def _clean_attachment(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    sha = text(value.get("sha256"))
    size = value.get("size")
    return {
        "sha256": sha.lower() if sha and _HEX64.match(sha.lower()) else None,
        "claimed_sha256": sha,
        "size": size if isinstance(size, int) and not isinstance(size, bool) else None,
        "mime_type": text(value.get("mime_type")),
        "filename": text(value.get("filename")),
        "caption": text(value.get("caption")),
        "media_id": text(value.get("media_id")),
    }


def _clean_flag(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {k: text(value.get(k)) or "" for k in ("rule", "action", "reason")}


def _time(doc: dict[str, Any], rid: str) -> tuple[str, str | None]:
    """``sent_at`` as RFC 3339 UTC, and a note when it had to be taken from elsewhere."""
    for key in ("sent_at", "captured_at"):
        value = text(doc.get(key))
        if value:
            try:
                moment = rfc3339(parse_rfc3339(value))
            except ValueError:
                continue
            note = None if key == "sent_at" else f"no valid sent_at ({doc.get('sent_at')!r})"
            return moment, note
    if is_record_id(rid):
        return rfc3339(record_id_time(rid)), f"no valid sent_at ({doc.get('sent_at')!r})"
    return EPOCH, f"no valid sent_at ({doc.get('sent_at')!r})"


def clean_doc(doc: Any) -> dict[str, Any]:
    """The export view of one stored record (see the module docstring)."""
    if not isinstance(doc, dict) or not text(doc.get("id")):
        raise BadRecord("not a record object with an id")
    rid = str(text(doc.get("id")))
    out: dict[str, Any] = {k: text(doc.get(k)) for k in _STR_FIELDS}
    out["id"] = rid
    out["sent_at"], out["time_note"] = _time(doc, rid)
    out["captured_at"] = text(doc.get("captured_at"))
    out["sender"] = clean_party(doc.get("sender"))
    recipients = doc.get("recipients") if isinstance(doc.get("recipients"), list) else []
    out["recipients"] = [p for p in (clean_party(r) for r in recipients) if p]
    attachments = doc.get("attachments") if isinstance(doc.get("attachments"), list) else []
    out["attachments"] = [a for a in (_clean_attachment(x) for x in attachments) if a]
    flags = doc.get("flags") if isinstance(doc.get("flags"), list) else []
    out["flags"] = [f for f in (_clean_flag(x) for x in flags) if f]
    group = doc.get("group") if isinstance(doc.get("group"), dict) else None
    out["group"] = (
        {"id": text(group.get("id")), "subject": text(group.get("subject"))}
        if group and text(group.get("id"))
        else None
    )
    call = doc.get("call") if isinstance(doc.get("call"), dict) else None
    out["call"] = {k: text(v) for k, v in call.items() if text(v)} if call else None
    out["imported"] = doc.get("imported") is True
    delivery = doc.get("delivery") if isinstance(doc.get("delivery"), dict) else None
    out["delivery"] = (
        {"sha256": text(delivery.get("sha256")), "pointer": text(delivery.get("pointer"))}
        if delivery
        else None
    )
    out["kind"] = out["kind"] or "system"
    out["direction"] = out["direction"] or "internal"
    out["platform"] = out["platform"] or "whatsapp"
    return out
