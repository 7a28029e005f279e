"""The archive record, schema ``wabridge.record/1``: one immutable JSON object per event.

A record is a frozen dataclass. Its canonical form is JSON with sorted keys, UTF-8 and no
insignificant whitespace; ``sha256`` is the hash of that form without the ``sha256`` field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from bridge.ids import new_record_id

SCHEMA = "wabridge.record/1"

PLATFORMS = ("whatsapp", "teams")
DIRECTIONS = ("inbound", "outbound", "internal")
KINDS = ("message", "status", "reaction", "edit", "delete", "policy", "audit", "system", "error")


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, UTF-8, compact, no NaN."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with millisecond precision, e.g. ``2026-11-28T17:45:00.000Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_rfc3339(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def from_unix(timestamp: str | int | float) -> str:
    """A webhook ``timestamp`` (seconds since the epoch) as RFC 3339."""
    return rfc3339(datetime.fromtimestamp(float(timestamp), tz=UTC))


def now_rfc3339() -> str:
    return rfc3339(datetime.now(UTC))


@dataclass(frozen=True)
class Party:
    """A participant: a WhatsApp contact (``id`` = wa_id / E.164) or an employee (Entra object id)."""

    id: str
    name: str | None = None
    platform: str = "whatsapp"
    upn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "platform": self.platform}
        if self.upn is not None:
            out["upn"] = self.upn
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Party:
        return cls(
            id=data["id"],
            name=data.get("name"),
            platform=data.get("platform", "whatsapp"),
            upn=data.get("upn"),
        )


@dataclass(frozen=True)
class Attachment:
    """A media item; the bytes live once in the archive under ``blob`` (content-addressed)."""

    sha256: str | None
    mime_type: str | None = None
    size: int | None = None
    filename: str | None = None
    caption: str | None = None
    blob: str | None = None
    media_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "mime_type": self.mime_type,
            "filename": self.filename,
            "caption": self.caption,
            "blob": self.blob,
            "media_id": self.media_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attachment:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Flag:
    """A policy finding on a record."""

    rule: str
    action: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "action": self.action, "reason": self.reason}


@dataclass(frozen=True)
class Record:
    """One archived event of either side, in the unified schema (DESIGN.md §3.4)."""

    conversation: str | None
    platform: str
    direction: str
    kind: str
    type: str | None
    source_id: str | None
    sent_at: str
    captured_at: str
    sender: Party | None
    recipients: tuple[Party, ...] = ()
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None
    relates_to: str | None = None
    flags: tuple[Flag, ...] = ()
    raw: Any = None
    status: str | None = None
    id: str = field(default="")
    schema: str = SCHEMA
    sha256: str = ""

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {PLATFORMS}, not {self.platform!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {self.direction!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    def body_dict(self) -> dict[str, Any]:
        """The record as a plain dict, without ``sha256``."""
        return {
            "schema": self.schema,
            "id": self.id,
            "conversation": self.conversation,
            "platform": self.platform,
            "direction": self.direction,
            "kind": self.kind,
            "type": self.type,
            "source_id": self.source_id,
            "sent_at": self.sent_at,
            "captured_at": self.captured_at,
            "sender": self.sender.to_dict() if self.sender else None,
            "recipients": [p.to_dict() for p in self.recipients],
            "text": self.text,
            "attachments": [a.to_dict() for a in self.attachments],
            "reply_to": self.reply_to,
            "relates_to": self.relates_to,
            "flags": [f.to_dict() for f in self.flags],
            "raw": self.raw,
            "status": self.status,
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.body_dict()
        out["sha256"] = self.sha256
        return out

    def canonical(self) -> bytes:
        """The stored bytes of this record."""
        return canonical_json(self.to_dict())

    def computed_sha256(self) -> str:
        return hashlib.sha256(canonical_json(self.body_dict())).hexdigest()

    def sealed(self, captured_at: str | None = None) -> Record:
        """This record with ``captured_at``, a capture-time id and its ``sha256`` filled in."""
        captured = captured_at or self.captured_at or now_rfc3339()
        rid = self.id or new_record_id(_parse_or_now(captured))
        draft = replace(self, captured_at=captured, id=rid, sha256="")
        return replace(draft, sha256=draft.computed_sha256())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        return cls(
            schema=data.get("schema", SCHEMA),
            id=data["id"],
            conversation=data.get("conversation"),
            platform=data["platform"],
            direction=data["direction"],
            kind=data["kind"],
            type=data.get("type"),
            source_id=data.get("source_id"),
            sent_at=data["sent_at"],
            captured_at=data["captured_at"],
            sender=Party.from_dict(data["sender"]) if data.get("sender") else None,
            recipients=tuple(Party.from_dict(p) for p in data.get("recipients") or ()),
            text=data.get("text"),
            attachments=tuple(Attachment.from_dict(a) for a in data.get("attachments") or ()),
            reply_to=data.get("reply_to"),
            relates_to=data.get("relates_to"),
            flags=tuple(Flag(**f) for f in data.get("flags") or ()),
            raw=data.get("raw"),
            status=data.get("status"),
            sha256=data.get("sha256", ""),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Record:
        return cls.from_dict(json.loads(data))


def _parse_or_now(value: str) -> datetime:
    try:
        return parse_rfc3339(value)
    except ValueError:
        return datetime.now(UTC)


def record_sha256(data: dict[str, Any]) -> str:
    """The hash a stored record dict should carry (over its canonical form without ``sha256``)."""
    body = {k: v for k, v in data.items() if k != "sha256"}
    return hashlib.sha256(canonical_json(body)).hexdigest()
