"""Lexicon findings on inbound WhatsApp events, put on their records before they are archived."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from bridge.record import Flag, Record

#: Inbound record kinds whose text is the contact's own words.
FLAGGED_KINDS = ("message", "edit")


def with_inbound_flags(record: Record, flags_of: Callable[[str], Sequence[Flag]]) -> Record:
    """``record`` with the findings on its text added to ``flags`` (unsealed again, so that the
    archive seals it with them); other records unchanged."""
    if record.direction != "inbound" or record.kind not in FLAGGED_KINDS or not record.text:
        return record
    found = tuple(flags_of(record.text))
    if not found:
        return record
    return dataclasses.replace(record, flags=record.flags + found, sha256="")


def flag_items(items: Sequence[tuple[Record, Any]], gate: Any) -> list[tuple[Record, Any]]:
    """Apply :func:`with_inbound_flags` to ``(record, key)`` pairs with ``gate.inbound_flags``."""
    flags_of = getattr(gate, "inbound_flags", None)
    if flags_of is None:
        return list(items)
    return [(with_inbound_flags(record, flags_of), key) for record, key in items]
