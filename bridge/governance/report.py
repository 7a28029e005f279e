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
    "object_id",
    "upn",
    "display_name",
    "added_by",
    "added_at",
    "source",
    "current_policy_version",
    "acknowledged_current",
    "acknowledgements",
    "messages",
    "sent",
    "flagged",
    "blocked",
    "refused",
    "last_activity",
]


@dataclass
class _Activity:
    acks: dict[str, str] = field(default_factory=dict)
    messages: int = 0
    sent: int = 0
    flagged: int = 0
    blocked: int = 0
    refused: int = 0
    last: str | None = None


def activity_by_employee(records: Iterable[Mapping[str, Any]]) -> dict[str, _Activity]:
    """Per Entra object id: acknowledged versions (earliest time), counts, last activity.

    ``messages`` are the employee's own archived messages (every attempt); ``sent`` the Cloud
    API send results linked to them (``relates_to``), ``flagged`` those of them with findings;
    ``blocked`` and ``refused`` the ``policy`` records of those decisions.
    """
    records = list(records)
    out: dict[str, _Activity] = {}
    own: dict[str, str] = {}  # the employee's message record id -> object id
    for record in records:
        sender = record.get("sender") or {}
        oid = (sender.get("id") or "").lower()
        if (
            record.get("platform") != "teams"
            or sender.get("platform") != "teams"
            or not oid
            or record.get("kind") == "audit"
        ):  # an audit's sender is the administrator
            continue
        act = out.setdefault(oid, _Activity())
        sent_at = record.get("sent_at") or ""
        if act.last is None or sent_at > act.last:
            act.last = sent_at
        kind, rtype = record.get("kind"), record.get("type")
        if kind == "message" and record.get("direction") == "outbound":
            act.messages += 1
            if record.get("id"):
                own[record["id"]] = oid
        elif kind == "policy" and rtype == POLICY_BLOCK:
            act.blocked += 1
        elif kind == "policy" and rtype == POLICY_REFUSAL:
            act.refused += 1
        elif kind == "policy" and rtype == POLICY_ACKNOWLEDGEMENT:
            version = str((record.get("raw") or {}).get("policy_version") or "")
            if version and (version not in act.acks or sent_at < act.acks[version]):
                act.acks[version] = sent_at
    for record in records:
        if (
            record.get("platform") == "whatsapp"
            and record.get("direction") == "outbound"
            and record.get("kind") == "message"
            and record.get("relates_to") in own
        ):
            act = out[own[record["relates_to"]]]
            act.sent += 1
            if record.get("flags"):
                act.flagged += 1
    return out


def users_report_rows(
    users: Iterable[AuthorizedUser],
    records: Iterable[Mapping[str, Any]],
    current_version: str | None,
) -> list[dict[str, str]]:
    """One row per user, in UPN order (pure: the registry and the record dicts in)."""
    activity = activity_by_employee(records)
    rows = []
    for user in sorted(users, key=lambda u: u.upn.lower()):
        act = activity.get(user.object_id, _Activity())
        acks = "; ".join(f"{v}@{at}" for v, at in sorted(act.acks.items(), key=lambda kv: kv[1]))
        rows.append(
            {
                "object_id": user.object_id,
                "upn": user.upn,
                "display_name": user.name or "",
                "added_by": user.added_by,
                "added_at": user.added_at,
                "source": user.source,
                "current_policy_version": current_version or "",
                "acknowledged_current": (
                    ""
                    if current_version is None
                    else ("yes" if current_version in act.acks else "no")
                ),
                "acknowledgements": acks,
                "messages": str(act.messages),
                "sent": str(act.sent),
                "flagged": str(act.flagged),
                "blocked": str(act.blocked),
                "refused": str(act.refused),
                "last_activity": act.last or "",
            }
        )
    return rows


def rows_to_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
