"""Identifiers: record ids (ULID), conversation ids and the blob names derived from them.

Every name the archive writes is made here, so that no source value (a wamid with ``/``, a
contact name with control characters) ever reaches a path or blob name unencoded.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from datetime import UTC, datetime
from urllib.parse import quote, unquote

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


class _UlidGenerator:
    """Monotonic ULIDs: sortable by millisecond, strictly increasing within a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def new(self, ms: int | None = None) -> str:
        with self._lock:
            now = int(time.time() * 1000) if ms is None else ms
            if now <= self._last_ms:
                now = self._last_ms
                rand = self._last_rand + 1
            else:
                rand = int.from_bytes(os.urandom(10), "big") >> 1
            self._last_ms, self._last_rand = now, rand
        return _encode(now, 10) + _encode(rand, 16)


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


_ulids = _UlidGenerator()


def new_record_id(at: datetime | None = None) -> str:
    """A new ULID; ``at`` sets its time part (defaults to now)."""
    ms = None if at is None else int(at.timestamp() * 1000)
    return _ulids.new(ms)


def is_record_id(value: str) -> bool:
    return bool(_ULID_RE.match(value or ""))


def record_id_time(record_id: str) -> datetime:
    """The capture time encoded in a ULID."""
    ms = 0
    for ch in record_id[:10]:
        ms = ms * 32 + _CROCKFORD.index(ch)
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# -- conversations -------------------------------------------------------------------------

WHATSAPP_PREFIX = "wa"
INTERNAL_CONVERSATION = "internal"


def make_conversation_id(phone_number_id: str, wa_id: str) -> str:
    """Stable id of one business number talking to one WhatsApp contact: ``wa:PNID:WAID``."""
    if not phone_number_id or not wa_id:
        raise ValueError("a conversation needs a business phone number id and a contact wa_id")
    return f"{WHATSAPP_PREFIX}:{_digits_or_quoted(phone_number_id)}:{_digits_or_quoted(wa_id)}"


def parse_conversation_id(conversation: str) -> tuple[str, str]:
    """Inverse of :func:`make_conversation_id`: ``(phone_number_id, wa_id)``."""
    parts = conversation.split(":")
    if len(parts) != 3 or parts[0] != WHATSAPP_PREFIX or not parts[1] or not parts[2]:
        raise ValueError(f"not a WhatsApp conversation id: {conversation!r}")
    return unquote(parts[1]), unquote(parts[2])


def _digits_or_quoted(value: str) -> str:
    value = str(value)
    return value if value.isdigit() else quote(value, safe="")


# -- blob names ----------------------------------------------------------------------------

_MAX_COMPONENT = 180


def safe_component(value: str) -> str:
    """Encode any string as one path/blob-name component, injectively.

    Letters, digits and ``-_.:+@`` stay readable; everything else is percent-encoded; a
    leading dot is encoded so that ``.`` and ``..`` cannot occur; overlong values become
    ``%h`` + a hash (``%h`` is never produced by percent-encoding).
    """
    if value is None or value == "":
        raise ValueError("an empty name component")
    encoded = quote(str(value), safe="-_.:+@")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if len(encoded) > _MAX_COMPONENT:
        encoded = "%h" + hashlib.sha256(str(value).encode("utf-8")).hexdigest()
    return encoded


RECORDS_PREFIX = "records/"
MEDIA_PREFIX = "media/"
LEDGER_PREFIX = "ledger/"
STATE_PREFIX = "state/"


def event_key(*parts: object) -> str:
    """A deterministic key of a source event (platform, kind, source id, discriminators)."""
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def record_blob_name(conversation: str | None, sent_at: str, key: str) -> str:
    """``records/<conversation>/<yyyy>/<mm>/<dd>/<key>.json``; the date is the event's own."""
    conv = safe_component(conversation or INTERNAL_CONVERSATION)
    day = (sent_at or "")[:10]
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", day):
        day = "0000-00-00"
    y, m, d = day.split("-")
    return f"{RECORDS_PREFIX}{conv}/{y}/{m}/{d}/{safe_component(key)}.json"


def media_blob_name(sha256_hex: str) -> str:
    """Content-addressed media name: ``media/<ab>/<sha256>``."""
    if not re.match(r"^[0-9a-f]{64}$", sha256_hex or ""):
        raise ValueError(f"not a sha256 hex digest: {sha256_hex!r}")
    return f"{MEDIA_PREFIX}{sha256_hex[:2]}/{sha256_hex}"


def state_blob_name(*parts: str) -> str:
    """A mutable state document (thread map, registries): ``state/<part>/<part>.json``."""
    return STATE_PREFIX + "/".join(safe_component(p) for p in parts) + ".json"


def check_blob_name(name: str) -> str:
    """Refuse a name that could escape the archive's layout (used by every backend)."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise ValueError(f"invalid archive name {name!r}")
    for part in name.split("/"):
        if part in ("", ".", "..") or any(ord(c) < 32 for c in part):
            raise ValueError(f"invalid archive name {name!r}")
    return name
