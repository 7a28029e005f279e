"""``rsmf_manifest.json`` of one conversation slice (RSMF 2.0.0), built from folded entries.

How our records map onto RSMF (Relativity Short Message Format 2.0):

- Participants: the business number (the custodian of every WhatsApp conversation), each
  contact (``account_id`` the wa_id or BSUID; phone, BSUID, parent id and username as custom
  fields), each employee (``email`` their UPN when known, ``account_id`` their Entra object id).
- The conversation: ``platform`` ``whatsapp``; ``direct`` for a contact, ``channel`` for a
  group (its subject as display, every member as participant).
- One ``message`` event per message, ``direction`` relative to the custodian (``incoming`` from
  the contact, ``outgoing`` from the firm); the employee who wrote it in Teams as its
  participant. A reply names the message it answers as ``parent`` when that is in the file.
- Edits as ``edits[]`` (previous and new body; ``body`` is the text as it stands), a deletion
  as ``deleted: true`` (the body is kept: it is what was sent), reactions as ``reactions[]``
  (the ones standing at the end; their history in ``custom``), delivered/read statuses as
  ``read_receipts[]`` of the recipient, the sent status and failures in ``custom``.
- Group membership changes as ``join``/``leave``; everything else (policy decisions, calls,
  system events, a status whose message is not in the export) as ``unknown`` with a body
  saying what it is.
- Our own data only in ``custom`` (the archive record ids and hashes of every record folded
  into the event, the wamid, the policy findings): never a property RSMF does not define.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any

from bridge.readside.export.fold import Entry
from bridge.readside.export.parties import BUSINESS, CONTACT, EMPLOYEE, Participant, Roster

RSMF_VERSION = "2.0.0"
SYSTEM_PID = "system:wabridge"
_EXT = re.compile(r"^\.[A-Za-z0-9]{1,10}$")


def collection_id(conversation: str | None) -> str:
    """The ``eventcollectionid`` tying every day of one conversation together."""
    seed = conversation or "internal"
    return "wabridge-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:40]


def member_name(att: dict[str, Any]) -> str:
    """The name of an attachment's bytes inside ``rsmf.zip``: its hash and an extension."""
    ext = ""
    filename = att.get("filename") or ""
    if "." in filename and _EXT.match("." + filename.rsplit(".", 1)[1]):
        ext = "." + filename.rsplit(".", 1)[1].lower()
    elif att.get("mime_type"):
        ext = mimetypes.guess_extension(att["mime_type"].split(";")[0].strip()) or ""
    return att["sha256"] + ext


def display_name(att: dict[str, Any]) -> str:
    if att.get("filename"):
        return att["filename"]
    mime = att.get("mime_type") or "application/octet-stream"
    return mime.split("/")[0] + (mimetypes.guess_extension(mime.split(";")[0]) or "")


def _custom(pairs: list[tuple[str, str | None]]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs if v]


@dataclass
class SliceManifest:
    """The manifest of one file and what goes into its zip besides it."""

    manifest: dict[str, Any]
    members: dict[str, str] = field(default_factory=dict)  # zip name -> sha256
    bodies: dict[str, str] = field(default_factory=dict)  # entry id -> event body


class SliceBuilder:
    """Builds the manifest of one slice of one conversation."""

    def __init__(self, roster: Roster, title: str, available: dict[str, int]) -> None:
        self.roster = roster
        self.title = title
        self.available = available  # sha256 -> size, of the media whose bytes are in hand
        self.used: dict[str, Participant | None] = {}

    def pid(self, person: Participant | None) -> str:
        key = person.pid if person is not None else SYSTEM_PID
        self.used.setdefault(key, person)
        return key

    def participant(self, doc: dict[str, Any]) -> str:
        return self.pid(self.roster.sender(doc))

    # -- events --------------------------------------------------------------------------------
    def event(self, entry: Entry, in_file: set[str], conversation_id: str) -> dict[str, Any]:
        doc = entry.doc
        body = self.body(entry)
        event: dict[str, Any] = {
            "id": entry.id,
            "type": self.event_type(entry),
            "participant": self.participant(doc),
            "conversation": conversation_id,
            "timestamp": doc["sent_at"],
        }
        if body:
            event["body"] = body
        if doc["direction"] in ("inbound", "outbound"):
            event["direction"] = "incoming" if doc["direction"] == "inbound" else "outgoing"
        if entry.reply_to is not None and entry.reply_to.id in in_file:
            event["parent"] = entry.reply_to.id
        if entry.deletes:
            event["deleted"] = True
        if doc["flags"] or entry.policies:
            event["importance"] = "high"
        edits = [
            {
                "participant": self.participant(edit),
                "timestamp": edit["sent_at"],
                **({"previous": previous} if previous is not None else {}),
                **({"new": new} if new is not None else {}),
            }
            for edit, previous, new in entry.edit_history()
        ]
        if edits:
            event["edits"] = edits
        reactions = [
            {
                "value": value,
                "count": len(records),
                "participants": [self.participant(r) for r in records],
            }
            for value, records in entry.reaction_state()
        ]
        if reactions:
            event["reactions"] = reactions
        receipts = self.read_receipts(entry)
        if receipts:
            event["read_receipts"] = receipts
        attachments = [
            {"id": member_name(a), "display": display_name(a), "size": self.available[a["sha256"]]}
            for a in entry.attachments
            if a.get("sha256") in self.available
        ]
        if attachments:
            event["attachments"] = attachments
        event["custom"] = self.event_custom(entry, in_file)
        return event

    def event_type(self, entry: Entry) -> str:
        doc = entry.doc
        if entry.is_message:
            return "message"
        kind_type = (doc.get("type") or "").lower()
        if doc["kind"] == "system" and self.roster.group:
            if any(w in kind_type for w in ("join", "add", "invite_accept")):
                return "join"
            if any(w in kind_type for w in ("leave", "remove", "left")):
                return "leave"
        return "unknown"

    def body(self, entry: Entry) -> str:
        return (entry.text or "") if entry.is_message else entry.summary()

    def read_receipts(self, entry: Entry) -> list[dict[str, Any]]:
        out = []
        for status in entry.delivery()[1]:
            value = status.get("status")
            action = {"delivered": "delivered", "read": "read", "played": "read"}.get(value or "")
            if action is None:
                continue
            recipients = self.roster.recipients(status)
            person = recipients[0] if recipients else (self.roster.contacts or [None])[0]
            out.append(
                {"participant": self.pid(person), "timestamp": status["sent_at"], "action": action}
            )
        return out

    def event_custom(self, entry: Entry, in_file: set[str]) -> list[dict[str, str]]:
        doc = entry.doc
        pairs: list[tuple[str, str | None]] = [
            ("wabridge record id", doc["id"]),
            ("wabridge record sha256", doc.get("sha256")),
            ("wabridge records", " ".join(r["id"] for r in entry.records)),
            ("record kind", doc["kind"] + (f"/{doc['type']}" if doc.get("type") else "")),
            ("source id", doc.get("source_id")),
            ("whatsapp message id", entry.wamid if entry.wamid != doc.get("source_id") else None),
            ("sent via", "Microsoft Teams (wabridge)" if doc["platform"] == "teams" else None),
            ("time note", doc.get("time_note")),
            ("imported", "coexistence history" if doc.get("imported") else None),
            ("group", _group_text(doc)),
            ("delivery sha256", (doc.get("delivery") or {}).get("sha256")),
        ]
        if doc.get("reply_to") and (entry.reply_to is None or entry.reply_to.id not in in_file):
            pairs.append(("reply to", doc["reply_to"]))
        for send in entry.sends:
            pairs.append(("sent to WhatsApp", f"{send['sent_at']} (record {send['id']})"))
        for status in entry.delivery()[1]:
            if status.get("status") in ("sent", "failed"):
                pairs.append(
                    (
                        f"status {status.get('status')}",
                        f"{status['sent_at']} {status.get('text') or ''}".strip(),
                    )
                )
        for failure in entry.failures:
            pairs.append(("delivery failed", f"{failure['sent_at']}: {failure.get('text') or ''}"))
        for relay in entry.relays:
            pairs.append(
                ("shown in Teams", f"{relay['sent_at']} (Teams post {relay.get('source_id')})")
            )
        for edit in entry.edits:
            where = (
                "in Teams; the WhatsApp copy is unchanged"
                if edit["platform"] == "teams"
                else "on WhatsApp"
            )
            pairs.append(("edited", f"{edit['sent_at']} {where}"))
        for delete in entry.deletes:
            where = "in Teams" if delete["platform"] == "teams" else "for everyone on WhatsApp"
            pairs.append(("deleted", f"{delete['sent_at']} {where}"))
        for reaction in entry.reactions:
            value = reaction.get("text") or "(removed)"
            pairs.append(
                ("reaction", f"{value} {reaction['sent_at']} by {self.roster_name(reaction)}")
            )
        for flag in doc["flags"]:
            pairs.append(("policy finding", f"{flag['action']} {flag['rule']}: {flag['reason']}"))
        for policy in entry.policies:
            pairs.append(("policy decision", f"{policy.get('type')}: {policy.get('text') or ''}"))
        for att in entry.attachments:
            if att.get("sha256") not in self.available:
                name = att.get("filename") or att.get("mime_type") or "attachment"
                pairs.append(
                    ("attachment not in the archive", f"{name} {att.get('sha256') or '(no hash)'}")
                )
        return _custom(pairs)

    def roster_name(self, doc: dict[str, Any]) -> str:
        person = self.roster.sender(doc)
        return person.label if person else "unknown"

    # -- participants and the conversation ---------------------------------------------------------
    def participants(self) -> list[dict[str, Any]]:
        out = []
        for pid, person in self.used.items():
            if person is None:
                out.append(
                    {
                        "id": pid,
                        "display": "wabridge (the firm's archive)",
                        "custom": _custom([("role", "system")]),
                    }
                )
                continue
            item: dict[str, Any] = {
                "id": pid,
                "display": person.display,
                "account_id": person.account_id,
            }
            if person.email:
                item["email"] = person.email
            item["custom"] = _custom(person.identity_lines())
            out.append(item)
        return out

    def fallback_event(self, entry: Entry, conversation_id: str) -> dict[str, Any]:
        """Stands in for an event that could not be rendered (its records are listed in the
        export's manifest and copied as stored under ``unrendered/``)."""
        return {
            "id": entry.id,
            "type": "unknown",
            "participant": self.pid(None),
            "conversation": conversation_id,
            "timestamp": entry.doc["sent_at"],
            "body": f"Record {entry.id} could not be rendered here; its stored form is in the "
            "export under unrendered/.",
            "custom": _custom([("wabridge records", " ".join(r["id"] for r in entry.records))]),
        }

    def build(self, entries: list[Entry], conversation_id: str, guard: Any = None) -> SliceManifest:
        """The manifest; ``guard(entry, render, fallback)`` isolates a failing event."""
        roster = self.roster
        custodian = self.pid(roster.business) if roster.business else self.pid(None)
        for person in roster.contacts:
            self.pid(person)
        in_file = {e.id for e in entries}

        def render(entry: Entry) -> dict[str, Any]:
            return self.event(entry, in_file, conversation_id)

        def fallback(entry: Entry) -> dict[str, Any]:
            return self.fallback_event(entry, conversation_id)

        events = [guard(e, render, fallback) if guard else render(e) for e in entries]
        bodies = {e["id"]: e.get("body", "") for e in events}
        conversation = {
            "id": conversation_id,
            "display": self.title,
            "platform": "whatsapp" if roster.business else "wabridge",
            "type": "channel" if roster.group else "direct",
            "participants": list(self.used),
            "custodian": custodian,
            "custom": _custom(
                [
                    ("wabridge conversation", roster.conversation or "(no conversation)"),
                    (
                        "business phone number id",
                        (roster.business.ids.get("phone_number_id") if roster.business else None),
                    ),
                    (
                        "group",
                        next((_group_text(e.doc) for e in entries if e.doc.get("group")), None),
                    ),
                ]
            ),
        }
        manifest = {
            "version": RSMF_VERSION,
            "eventcollectionid": collection_id(roster.conversation),
            "participants": self.participants(),
            "conversations": [conversation],
            "events": events,
        }
        names = {
            member_name(a): a["sha256"]
            for e in entries
            for a in e.attachments
            if a.get("sha256") in self.available
        }
        # Only what an event names goes into the zip (an event that fell back names nothing).
        members = {a["id"]: names[a["id"]] for e in events for a in e.get("attachments", [])}
        return SliceManifest(manifest, members, bodies)


def _group_text(doc: dict[str, Any]) -> str | None:
    group = doc.get("group")
    if not group:
        return None
    return f"{group['id']} {group.get('subject') or ''}".strip()


__all__ = [
    "SliceBuilder",
    "SliceManifest",
    "collection_id",
    "RSMF_VERSION",
    "BUSINESS",
    "CONTACT",
    "EMPLOYEE",
]
