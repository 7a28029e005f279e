"""Record selection shared by search, export, hold and stats: a query and a pure matcher."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from bridge.record import parse_rfc3339, rfc3339


@dataclass(frozen=True)
class RecordQuery:
    """A selection of records; empty fields select everything."""

    conversation: str | None = None
    participant: str | None = None
    since: str | None = None  # RFC 3339, inclusive, on sent_at
    until: str | None = None  # RFC 3339, exclusive, on sent_at
    text: str | None = None
    platform: str | None = None
    kind: str | None = None
    direction: str | None = None
    flag: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def describe(self) -> dict[str, str]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in values.items() if v is not None}


def parse_time_bound(value: str, *, end: bool = False) -> str:
    """``2026-11``, ``2026-11-28`` or a full RFC 3339 time, as RFC 3339 UTC.

    For an ``until`` bound given as a month or a day, the bound is the start of the next one,
    so ``--until 2026-11-28`` includes the whole of that day.
    """
    value = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}", value):
            moment = datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC)
            if end:
                moment = moment.replace(
                    year=moment.year + (moment.month == 12), month=moment.month % 12 + 1
                )
            return rfc3339(moment)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            moment = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            if end:
                from datetime import timedelta

                moment += timedelta(days=1)
            return rfc3339(moment)
        return rfc3339(parse_rfc3339(value))
    except ValueError:
        raise ValueError(f"not a date or RFC 3339 time: {value!r}") from None


def phone_digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


_PHONE_RE = re.compile(r"[\d\s().+-]+")


def phone_key(value: str) -> str | None:
    """``tel:<digits>`` for anything written like a phone number (+E.164, wa_id, ``00`` prefix).

    ``+44 7700 900123``, ``447700900123`` and ``0044 7700 900123`` all give the same key.
    """
    value = (value or "").strip()
    if value.lower().startswith("tel:"):
        value = value[4:]
    if not value or not _PHONE_RE.fullmatch(value) or value.count("+") > 1:
        return None
    digits = phone_digits(value)
    if value.startswith("00") and len(digits) > 8:
        digits = digits[2:]
    return f"tel:{digits}" if digits else None


def party_keys(party: dict[str, Any] | None) -> set[str]:
    """The keys a participant is found by: its id, its UPN (lower case) and its phone key."""
    if not party:
        return set()
    keys: set[str] = set()
    for field_name in ("id", "upn"):
        value = party.get(field_name)
        if isinstance(value, str) and value.strip():
            keys.add(value.strip().lower())
            tel = phone_key(value)
            if tel:
                keys.add(tel)
    return keys


def wanted_keys(wanted: str) -> set[str]:
    """The keys a ``--participant`` value stands for (see :func:`party_keys`)."""
    keys = {wanted.strip().lower()} if wanted.strip() else set()
    tel = phone_key(wanted)
    if tel:
        keys.add(tel)
    return keys


def participant_matches(party: dict[str, Any] | None, wanted: str) -> bool:
    return bool(party_keys(party) & wanted_keys(wanted))


def record_party_keys(record: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    for party in [record.get("sender")] + list(record.get("recipients") or []):
        if isinstance(party, dict):
            keys |= party_keys(party)
    return keys


_TOKEN_RE = re.compile(r"[^\W_]+")


def text_tokens(value: str | None) -> list[str]:
    """Words of a text as search sees them: runs of letters and digits, lower case."""
    return _TOKEN_RE.findall((value or "").lower())


def record_search_text(record: dict[str, Any]) -> str:
    """What full-text search looks at: the text, and each attachment's caption and file name."""
    parts = [record.get("text")]
    for att in record.get("attachments") or []:
        if isinstance(att, dict):
            parts += [att.get("caption"), att.get("filename")]
    return " ".join(p for p in parts if isinstance(p, str))


def query_words(text: str) -> list[tuple[str, bool]]:
    """The words of a ``--text`` query as ``(word, is_prefix)``; ``pay*`` is a prefix."""
    out = []
    for raw in text.split():
        prefix = raw.endswith("*")
        for word in text_tokens(raw):
            out.append((word, False))
        if prefix and out:
            out[-1] = (out[-1][0], True)
    return out


def text_matches(record: dict[str, Any], text: str) -> bool:
    tokens = set(text_tokens(record_search_text(record)))
    for word, prefix in query_words(text):
        if prefix:
            if not any(t.startswith(word) for t in tokens):
                return False
        elif word not in tokens:
            return False
    return True


def record_flag_values(record: dict[str, Any]) -> set[str]:
    values: set[str] = set()
    for flag in record.get("flags") or []:
        if isinstance(flag, dict):
            values |= {v for v in (flag.get("rule"), flag.get("action")) if isinstance(v, str)}
    return values


def matches(record: dict[str, Any], query: RecordQuery) -> bool:
    """Whether a stored record (as a dict) is selected by ``query``.

    This is the definition of every filter; the index answers the same question faster.
    """
    if query.conversation is not None and record.get("conversation") != query.conversation:
        return False
    if query.platform is not None and record.get("platform") != query.platform:
        return False
    if query.kind is not None and record.get("kind") != query.kind:
        return False
    if query.direction is not None and record.get("direction") != query.direction:
        return False
    sent_at = time_key(record.get("sent_at") or "")
    if query.since is not None and sent_at < time_key(query.since):
        return False
    if query.until is not None and sent_at >= time_key(query.until):
        return False
    if query.participant is not None and not (
        record_party_keys(record) & wanted_keys(query.participant)
    ):
        return False
    if query.flag is not None and query.flag not in record_flag_values(record):
        return False
    if query.text is not None and not text_matches(record, query.text):
        return False
    return True


def time_key(value: str) -> str:
    """``sent_at`` normalised to RFC 3339 UTC with milliseconds, so it sorts as text."""
    try:
        return rfc3339(parse_rfc3339(value))
    except ValueError:
        return value


def sort_key(record: dict[str, Any]) -> tuple[str, str]:
    return (time_key(record.get("sent_at") or ""), record.get("id") or "")
