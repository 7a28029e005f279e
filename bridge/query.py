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
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


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
                moment = moment.replace(year=moment.year + (moment.month == 12), month=moment.month % 12 + 1)
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


def participant_matches(party: dict[str, Any] | None, wanted: str) -> bool:
    if not party:
        return False
    wanted_l = wanted.strip().lower()
    for key in ("id", "upn"):
        value = party.get(key)
        if isinstance(value, str) and value.lower() == wanted_l:
            return True
    digits = phone_digits(wanted)
    if digits and re.fullmatch(r"\+?[\d\s().-]+", wanted.strip()):
        return phone_digits(str(party.get("id") or "")) == digits
    return False


def matches(record: dict[str, Any], query: RecordQuery) -> bool:
    """Whether a stored record (as a dict) is selected by ``query``."""
    if query.conversation is not None and record.get("conversation") != query.conversation:
        return False
    if query.platform is not None and record.get("platform") != query.platform:
        return False
    if query.kind is not None and record.get("kind") != query.kind:
        return False
    if query.direction is not None and record.get("direction") != query.direction:
        return False
    sent_at = record.get("sent_at") or ""
    if query.since is not None and _time_key(sent_at) < _time_key(query.since):
        return False
    if query.until is not None and _time_key(sent_at) >= _time_key(query.until):
        return False
    if query.participant is not None:
        parties = [record.get("sender")] + list(record.get("recipients") or [])
        if not any(participant_matches(p, query.participant) for p in parties):
            return False
    if query.flag is not None:
        if not any(f.get("rule") == query.flag or f.get("action") == query.flag for f in record.get("flags") or []):
            return False
    if query.text is not None:
        haystack = " ".join(
            filter(None, [record.get("text")] + [a.get("caption") or a.get("filename") for a in record.get("attachments") or []])
        ).casefold()
        if not all(word in haystack for word in query.text.casefold().split()):
            return False
    return True


def _time_key(value: str) -> str:
    try:
        return rfc3339(parse_rfc3339(value))
    except ValueError:
        return value


def sort_key(record: dict[str, Any]) -> tuple[str, str]:
    return (_time_key(record.get("sent_at") or ""), record.get("id") or "")
