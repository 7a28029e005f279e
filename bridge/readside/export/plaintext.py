"""A conversation slice as plain text: every event's text with its marks, readable anywhere.

The body of each RSMF file (a review platform indexes it as the document's text; a person
reads it without any viewer). Text is given exactly; a continuation line is indented, never
rewritten. Times in the export's zone with their offset.
"""

from __future__ import annotations

from bridge.readside.export.fold import Entry
from bridge.readside.export.parties import BUSINESS, CONTACT, EMPLOYEE, Roster
from bridge.readside.export.zone import Zone


def _indent(text: str) -> str:
    return "\n    ".join(text.splitlines() or [""])


def _who(roster: Roster, doc: dict) -> str:
    person = roster.sender(doc)
    if person is not None:
        return person.label
    party = doc.get("sender") or {}
    return party.get("name") or party.get("id") or "wabridge"


def entry_lines(entry: Entry, roster: Roster, zone: Zone, body: str) -> list[str]:
    doc = entry.doc
    lines = [f"[{zone.show(doc['sent_at'])}] {_who(roster, doc)}: {_indent(body)}"]
    if entry.reply_to is not None:
        target = " ".join((entry.reply_to.text or "").split())[:80]
        lines.append(f'    (reply to {_who(roster, entry.reply_to.doc)}: "{target}")')
    elif doc.get("reply_to"):
        lines.append(f"    (reply to {doc['reply_to']}, not in this file)")
    for att in entry.attachments:
        kind = att.get("mime_type") or "unknown type"
        lines.append(f"    (attachment: {att.get('filename') or 'unnamed'}, {kind})")
    for edit, previous, new in entry.edit_history():
        lines.append(
            f"    (edited {zone.show(edit['sent_at'])} by {_who(roster, edit)}; before: "
            f'"{_indent(previous or "")}"; after: "{_indent(new or "")}")'
        )
    for delete in entry.deletes:
        lines.append(f"    (deleted {zone.show(delete['sent_at'])} by {_who(roster, delete)})")
    for value, records in entry.reaction_state():
        who = ", ".join(_who(roster, r) for r in records)
        lines.append(f"    (reaction {value} by {who})")
    state, statuses = entry.delivery()
    marks = [f"{s.get('status')} {zone.clock(s['sent_at'])}" for s in statuses]
    for failure in entry.failures:
        marks.append(f"FAILED {zone.clock(failure['sent_at'])}: {failure.get('text') or ''}")
    if marks:
        lines.append("    (" + " · ".join(marks) + ")")
    for flag in doc["flags"]:
        lines.append(f"    (policy {flag['action']}: {flag['rule']} - {flag['reason']})")
    for policy in entry.policies:
        lines.append(f"    (policy {policy.get('type')}: {_indent(policy.get('text') or '')})")
    return lines


def transcript(
    title: str, roster: Roster, entries: list[Entry], bodies: dict[str, str], zone: Zone
) -> str:
    """The text of one slice; ``bodies`` gives each entry's event body by entry id."""
    out = [title, f"Times in {zone.name}.", "", "Participants:"]
    roles = {BUSINESS: "business number (custodian)", CONTACT: "contact", EMPLOYEE: "employee"}
    for person in roster.participants:
        if person.role in roles:
            out.append(f"  {person.label} - {roles[person.role]}")
    out.append("")
    for entry in entries:
        out.extend(entry_lines(entry, roster, zone, bodies.get(entry.id, "")))
    return "\n".join(out) + "\n"
