"""``users report``: per authorized employee, acknowledgements, message counts, last activity."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.governance.registry import AuthorizedUser

#: ``type`` values of the ``policy`` records governance writes.
POLICY_REFUSAL = "refusal"
POLICY_HELD = "acknowledgement_required"
POLICY_ACKNOWLEDGEMENT = "acknowledgement"
POLICY_BLOCK = "block"

REPORT_COLUMNS = [
    "object_id", "upn", "display_name", "added_by", "added_at", "source",
    "current_policy_version", "acknowledged_current", "acknowledgements",
    "messages_sent", "messages_flagged", "messages_blocked", "last_activity",
]


@dataclass
class _Activity:
    acks: dict[str, str] = field(default_factory=dict)
    sent: int = 0
    flagged: int = 0
    blocked: int = 0
    last: str | None = None


def activity_by_employee(records: Iterable[Mapping[str, Any]]) -> dict[str, _Activity]:
    """Per Entra object id: acknowledged versions (earliest time), counts and last activity."""
    out: dict[str, _Activity] = {}
    for record in records:
        if record.get("platform") != "teams":
            continue
        sender = record.get("sender") or {}
        oid = (sender.get("id") or "").lower()
        if not oid or sender.get("platform") != "teams":
            continue
        kind, rtype = record.get("kind"), record.get("type")
        if kind == "audit":
            continue  # an audit record's sender is the administrator, not their activity
        act = out.setdefault(oid, _Activity())
        sent_at = record.get("sent_at") or ""
        if act.last is None or sent_at > act.last:
            act.last = sent_at
        if kind == "message" and record.get("direction") == "outbound":
            act.sent += 1
            if record.get("flags"):
                act.flagged += 1
        elif kind == "policy" and rtype == POLICY_BLOCK:
            act.blocked += 1
        elif kind == "policy" and rtype == POLICY_ACKNOWLEDGEMENT:
            version = str((record.get("raw") or {}).get("policy_version") or "")
            if version and (version not in act.acks or sent_at < act.acks[version]):
                act.acks[version] = sent_at
    return out


def users_report_rows(
    users: Iterable[AuthorizedUser], records: Iterable[Mapping[str, Any]],
    current_version: str | None,
) -> list[dict[str, str]]:
    """One row per user, in UPN order (pure: the registry and the record dicts in)."""
    activity = activity_by_employee(records)
    rows = []
    for user in sorted(users, key=lambda u: u.upn.lower()):
        act = activity.get(user.object_id, _Activity())
        acks = "; ".join(f"{v}@{at}" for v, at in sorted(act.acks.items(), key=lambda kv: kv[1]))
        rows.append({
            "object_id": user.object_id, "upn": user.upn, "display_name": user.name or "",
            "added_by": user.added_by, "added_at": user.added_at, "source": user.source,
            "current_policy_version": current_version or "",
            "acknowledged_current": (
                "" if current_version is None else ("yes" if current_version in act.acks else "no")
            ),
            "acknowledgements": acks,
            "messages_sent": str(act.sent), "messages_flagged": str(act.flagged),
            "messages_blocked": str(act.blocked), "last_activity": act.last or "",
        })
    return rows


def rows_to_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
