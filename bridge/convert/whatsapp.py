"""WhatsApp Cloud API webhook payload -> archive records (DESIGN.md §3.4). Pure: no I/O.

:func:`convert_delivery` turns one webhook delivery (the parsed JSON body) into a list of
``(Record, dedupe_key)``: one record per message, status, error and message echo, across every
entry and change. Each record keeps its source event verbatim in ``raw``. Anything the
converter does not know is archived as type ``unsupported`` with its raw payload; nothing is
dropped. Keys depend only on what is stable across Meta's redeliveries (the wamid, a status's
value and timestamp, an error's content), so a redelivery maps onto the same records.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bridge.ids import event_key, make_conversation_id, media_blob_name
from bridge.record import Attachment, Party, Record, canonical_json, from_unix

PLATFORM = "whatsapp"
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
#: ``messages[].type`` -> record kind (types not listed here become ``unsupported`` messages).
MESSAGE_KINDS = {
    **{
        t: "message"
        for t in (
            "text",
            "image",
            "audio",
            "video",
            "document",
            "sticker",
            "location",
            "contacts",
            "interactive",
            "button",
            "order",
            "unsupported",
        )
    },
    "reaction": "reaction",
    "system": "system",
    "request_welcome": "system",
    "edit": "edit",
    "revoke": "delete",
}
KNOWN_VALUE_KEYS = frozenset(
    {
        "messaging_product",
        "metadata",
        "contacts",
        "messages",
        "statuses",
        "errors",
        "message_echoes",
    }
)
RecordAndKey = tuple[Record, str]


class _Context:
    """What one ``change.value`` says about the business side and the contacts."""

    def __init__(self, value: Mapping[str, Any], field: str) -> None:
        metadata = value.get("metadata") if isinstance(value.get("metadata"), Mapping) else {}
        self.field = field
        self.phone_number_id = str(metadata.get("phone_number_id") or "")
        self.display_number = str(metadata.get("display_phone_number") or "")
        self.names: dict[str, str | None] = {}
        self.contacts: list[Mapping[str, Any]] = []
        for contact in _items(value.get("contacts")):
            wa_id = contact.get("wa_id") or contact.get("user_id")
            profile = contact.get("profile") if isinstance(contact.get("profile"), Mapping) else {}
            if wa_id:
                self.names[str(wa_id)] = _name_text(profile.get("name"))
                self.contacts.append(contact)

    @property
    def business(self) -> Party:
        return Party(id=self.display_number or self.phone_number_id or "unknown", name=None)

    def contact(self, number: Any) -> Party:
        """The contact behind ``number`` (a ``from``/``to``/``recipient_id``), named if known."""
        number = str(number or "")
        if number in self.names:
            return Party(id=number, name=self.names[number])
        if len(self.contacts) == 1:
            only = self.contacts[0]
            wa_id = str(only.get("wa_id") or only.get("user_id"))
            if not number or _digits(number) == _digits(wa_id):
                return Party(id=wa_id, name=self.names[wa_id])
        return Party(id=number or "unknown", name=None)

    def conversation(self, contact: Party) -> str | None:
        if not self.phone_number_id or contact.id == "unknown":
            return None
        return make_conversation_id(self.phone_number_id, contact.id)


def convert_delivery(payload: Any, *, received_at: str) -> list[RecordAndKey]:
    """Every record of one webhook delivery, with its dedupe key.

    ``received_at`` (RFC 3339) stands in for ``sent_at`` where the source gives no time.
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("entry"), list):
        return [_unsupported_blob(payload, "not a WhatsApp Business Account delivery", received_at)]
    out: list[RecordAndKey] = []
    for entry in payload["entry"]:
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        if not isinstance(changes, list):
            out.append(_unsupported_blob(entry, "entry without changes", received_at))
            continue
        for change in changes:
            out.extend(convert_change(change, received_at=received_at))
    return out


def convert_change(change: Any, *, received_at: str) -> list[RecordAndKey]:
    """The records of one ``entry[].changes[]`` item."""
    if not isinstance(change, Mapping) or not isinstance(change.get("value"), Mapping):
        return [_unsupported_blob(change, "change without a value", received_at)]
    field = str(change.get("field") or "")
    value = change["value"]
    if field not in ("messages", "smb_message_echoes"):
        return [_unsupported_blob(change, f"webhook field {field or '(none)'}", received_at)]
    ctx = _Context(value, field)
    out: list[RecordAndKey] = []
    for message in _raw_items(value.get("messages")):
        out.append(convert_message(message, ctx, received_at=received_at))
    for echo in _raw_items(value.get("message_echoes")):
        out.append(convert_message(echo, ctx, received_at=received_at, echo=True))
    for status in _raw_items(value.get("statuses")):
        out.append(convert_status(status, ctx, received_at=received_at))
    for error in _raw_items(value.get("errors")):
        out.append(convert_error(error, ctx, received_at=received_at))
    unknown = {k: v for k, v in value.items() if k not in KNOWN_VALUE_KEYS}
    if unknown:
        out.append(
            _unsupported_blob(
                {"field": field, "metadata": value.get("metadata"), "value": unknown},
                "unknown webhook value fields: " + ", ".join(sorted(unknown)),
                received_at,
            )
        )
    return out


# -- messages --------------------------------------------------------------------------------


def convert_message(
    message: Any, ctx: _Context, *, received_at: str, echo: bool = False
) -> RecordAndKey:
    """One ``messages[]`` item (inbound) or ``message_echoes[]`` item (outbound)."""
    if not isinstance(message, Mapping) or not message.get("id"):
        return _unsupported_blob(message, "message without an id", received_at, ctx)
    wamid = str(message["id"])
    source_type = str(message.get("type") or "")
    kind = MESSAGE_KINDS.get(source_type)
    if kind is None:
        kind, record_type = "message", "unsupported"
    else:
        record_type = source_type
    if echo:
        contact = ctx.contact(message.get("to"))
        sender, recipients, direction = ctx.business, (contact,), "outbound"
    else:
        contact = ctx.contact(message.get("from") or message.get("from_user_id"))
        sender, recipients, direction = contact, (ctx.business,), "inbound"
    body = message
    relates_to = None
    if source_type == "edit":
        edit = _mapping(message.get("edit"))
        relates_to = _str_or_none(edit.get("original_message_id"))
        body = _mapping(edit.get("message"))
    elif source_type == "revoke":
        relates_to = _str_or_none(_mapping(message.get("revoke")).get("original_message_id"))
    elif source_type == "reaction":
        relates_to = _str_or_none(_mapping(message.get("reaction")).get("message_id"))
    context = _mapping(message.get("context")) or _mapping(body.get("context"))
    record = Record(
        conversation=ctx.conversation(contact),
        platform=PLATFORM,
        direction=direction,
        kind=kind,
        type=record_type,
        source_id=wamid,
        sent_at=_time(message.get("timestamp"), received_at),
        captured_at="",
        sender=sender,
        recipients=recipients,
        text=render_text(message),
        attachments=tuple(attachments_of(body)),
        reply_to=_str_or_none(context.get("id")),
        relates_to=relates_to,
        raw=message,
    )
    return record, event_key(PLATFORM, "echo" if echo else "message", wamid)


def render_text(message: Mapping[str, Any]) -> str | None:
    """What a reader needs of a message, as text (body, caption, rendered location, ...)."""
    kind = str(message.get("type") or "")
    part = _mapping(message.get(kind))
    text: str | None
    if kind == "text":
        text = _str_or_none(part.get("body"))
    elif kind in MEDIA_TYPES:
        text = _str_or_none(part.get("caption"))
        if text is None and kind == "document":
            text = _str_or_none(part.get("filename"))
    elif kind == "location":
        text = _render_location(part)
    elif kind == "contacts":
        text = _render_contacts(message.get("contacts"))
    elif kind == "interactive":
        text = _render_interactive(part)
    elif kind == "button":
        text = _str_or_none(part.get("text")) or _str_or_none(part.get("payload"))
    elif kind == "reaction":
        text = _str_or_none(part.get("emoji"))
    elif kind == "order":
        text = _render_order(part)
    elif kind == "system":
        text = _str_or_none(part.get("body"))
    elif kind == "edit":
        inner = _mapping(part.get("message"))
        text = render_text(inner) if inner else None
    elif kind in ("revoke", "request_welcome"):
        text = None
    else:
        inner = _str_or_none(part.get("type"))
        label = f"[unsupported {kind} message" + (f": {inner}]" if inner else "]")
        text = "\n".join(x for x in (label, _render_errors(message.get("errors"))) if x)
    referral = _mapping(message.get("referral"))
    if referral:
        ad = " ".join(
            x
            for x in (
                _str_or_none(referral.get("headline")),
                _str_or_none(referral.get("source_url")),
            )
            if x
        )
        text = "\n".join(x for x in (text, f"[via ad: {ad}]" if ad else "[via ad]") if x)
    return text


def attachments_of(body: Mapping[str, Any]) -> list[Attachment]:
    """The media of a message: named by the hash the webhook gives (hex), with its media id."""
    kind = str(body.get("type") or "")
    if kind not in MEDIA_TYPES:
        return []
    media = _mapping(body.get(kind))
    if not media:
        return []
    sha = normalize_sha256(media.get("sha256"))
    return [
        Attachment(
            sha256=sha,
            mime_type=_str_or_none(media.get("mime_type")),
            size=_int_or_none(media.get("file_size")),
            filename=_str_or_none(media.get("filename")),
            caption=_str_or_none(media.get("caption")),
            blob=media_blob_name(sha) if sha else None,
            media_id=_str_or_none(media.get("id")),
        )
    ]


def normalize_sha256(value: Any) -> str | None:
    """A SHA-256 given as hex or base64 (both occur in Meta's payloads) as lowercase hex."""
    if not isinstance(value, str) or not value:
        return None
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return value.lower()
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32:
            return raw.hex()
    return None


# -- statuses and errors ---------------------------------------------------------------------


def convert_status(status: Any, ctx: _Context, *, received_at: str) -> RecordAndKey:
    """One ``statuses[]`` item: a report on an outbound message, linked to it by wamid."""
    if not isinstance(status, Mapping) or not status.get("id") or not status.get("status"):
        return _unsupported_blob(status, "status without an id or value", received_at, ctx)
    wamid = str(status["id"])
    value = str(status["status"])
    contact = ctx.contact(status.get("recipient_id") or status.get("recipient_user_id"))
    record = Record(
        conversation=ctx.conversation(contact),
        platform=PLATFORM,
        direction="outbound",
        kind="status",
        type=None,
        source_id=wamid,
        sent_at=_time(status.get("timestamp"), received_at),
        captured_at="",
        sender=ctx.business,
        recipients=(contact,),
        text=_render_errors(status.get("errors")),
        relates_to=wamid,
        raw=status,
        status=value,
    )
    return record, event_key(PLATFORM, "status", wamid, value, status.get("timestamp"))


def convert_error(error: Any, ctx: _Context, *, received_at: str) -> RecordAndKey:
    """One ``errors[]`` item of a value (not tied to a message): kind ``error``, internal."""
    record = Record(
        conversation=None,
        platform=PLATFORM,
        direction="internal",
        kind="error",
        type=None,
        source_id=None,
        sent_at=received_at,
        captured_at="",
        sender=None,
        text=_render_errors([error]),
        raw=error,
    )
    return record, event_key(PLATFORM, "error", ctx.phone_number_id, _content_hash(error))


def _unsupported_blob(
    raw: Any, why: str, received_at: str, ctx: _Context | None = None
) -> RecordAndKey:
    """Something we cannot map: kept whole as an ``unsupported`` record keyed by its content."""
    phone_number_id = ctx.phone_number_id if ctx else ""
    record = Record(
        conversation=None,
        platform=PLATFORM,
        direction="internal",
        kind="system",
        type="unsupported",
        source_id=None,
        sent_at=received_at,
        captured_at="",
        sender=None,
        text=f"[unsupported: {why}]",
        raw=raw,
    )
    return record, event_key(PLATFORM, "unsupported", phone_number_id, _content_hash(raw))


# -- rendering helpers -----------------------------------------------------------------------


def _render_location(part: Mapping[str, Any]) -> str | None:
    lines = [x for x in (_str_or_none(part.get("name")), _str_or_none(part.get("address"))) if x]
    lat, lon = part.get("latitude"), part.get("longitude")
    if lat is not None and lon is not None:
        lines.append(f"({lat}, {lon})")
    if part.get("url"):
        lines.append(str(part["url"]))
    return "\n".join(lines) or None


def _render_contacts(cards: Any) -> str | None:
    lines = []
    for card in _items(cards):
        name = _mapping(card.get("name"))
        label = (
            name.get("formatted_name")
            or " ".join(str(name[k]) for k in ("first_name", "last_name") if name.get(k))
            or "contact"
        )
        phones = ", ".join(
            str(p.get("phone") or p.get("wa_id"))
            for p in _items(card.get("phones"))
            if p.get("phone") or p.get("wa_id")
        )
        emails = ", ".join(
            str(e.get("email")) for e in _items(card.get("emails")) if e.get("email")
        )
        lines.append(" ".join(x for x in (str(label), phones and f"<{phones}>", emails) if x))
    return "\n".join(lines) or None


def _render_interactive(part: Mapping[str, Any]) -> str | None:
    kind = str(part.get("type") or "")
    reply = _mapping(part.get(kind))
    if kind in ("button_reply", "list_reply"):
        title = _str_or_none(reply.get("title"))
        description = _str_or_none(reply.get("description"))
        return " - ".join(x for x in (title, description) if x) or _str_or_none(reply.get("id"))
    if kind == "nfm_reply":
        head = _str_or_none(reply.get("body")) or _str_or_none(reply.get("name"))
        response = _str_or_none(reply.get("response_json"))
        return "\n".join(x for x in (head, response) if x) or None
    return _str_or_none(reply.get("title")) or _str_or_none(reply.get("body"))


def _render_order(part: Mapping[str, Any]) -> str | None:
    lines = [x for x in (_str_or_none(part.get("text")),) if x]
    for item in _items(part.get("product_items")):
        lines.append(
            f"{item.get('quantity', '?')} x {item.get('product_retailer_id', '?')}"
            f" @ {item.get('item_price', '?')} {item.get('currency', '')}".rstrip()
        )
    return "\n".join(lines) or None


def _render_errors(errors: Any) -> str | None:
    lines = []
    for error in _items(errors):
        details = _mapping(error.get("error_data")).get("details")
        title = error.get("title") or error.get("message")
        lines.append(
            " ".join(str(x) for x in (error.get("code"), title) if x)
            + (f": {details}" if details and details != title else "")
        )
    return "\n".join(lines) or None


# -- small helpers -----------------------------------------------------------------------------


def _time(timestamp: Any, fallback: str) -> str:
    try:
        return from_unix(timestamp)
    except (TypeError, ValueError, OverflowError, OSError):
        return fallback


def _content_hash(value: Any) -> str:
    try:
        data = canonical_json(value)
    except (TypeError, ValueError):
        data = repr(value).encode("utf-8", "replace")
    return hashlib.sha256(data).hexdigest()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> Iterable[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _raw_items(value: Any) -> list[Any]:
    """Every element of a list as given (non-objects too: they become ``unsupported``)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _name_text(value: Any) -> str | None:
    """A contact's profile name as text: a string as given; anything else the webhook put there
    as its JSON text, so that the record stays valid and nothing said is lost."""
    if value is None or isinstance(value, str):
        return value
    return canonical_json(value).decode("utf-8")


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())
