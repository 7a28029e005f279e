"""The registry of external WhatsApp contacts, derived from the archived records themselves.

Nothing but the archive is consulted: a contact is every ``wa_id`` that wrote to the firm's
number. The archive is the evidence, so the registry can always be rebuilt and never disagrees
with it. :func:`contacts_from_records` is pure; :func:`load_contacts` reads the archive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.archive import Archive
from bridge.ids import parse_conversation_id

#: Inbound message types that answer a template (a quick-reply button): explicit opt-in.
TEMPLATE_REPLY_TYPES = ("button",)


@dataclass
class Contact:
    """One external WhatsApp contact as the archive knows them."""

    wa_id: str
    profile_name: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    conversations: set[str] = field(default_factory=set)
    messages_in: int = 0
    messages_out: int = 0
    opt_in_record: str | None = None
    opt_in_kind: str | None = None
    opt_in_at: str | None = None
    template_reply_record: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "wa_id": self.wa_id,
            "profile_name": self.profile_name,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "conversations": sorted(self.conversations),
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "opt_in": {
                "record": self.opt_in_record,
                "kind": self.opt_in_kind,
                "at": self.opt_in_at,
            },
            "template_reply_record": self.template_reply_record,
        }


def contacts_from_records(records: Iterable[dict[str, Any]]) -> dict[str, Contact]:
    """Every contact by ``wa_id``, from stored record dicts in any order."""
    contacts: dict[str, Contact] = {}
    ordered = sorted(records, key=lambda r: (r.get("sent_at") or "", r.get("id") or ""))
    for record in ordered:
        direction, kind = record.get("direction"), record.get("kind")
        sent_at = record.get("sent_at")
        if direction == "inbound" and record.get("platform") == "whatsapp":
            sender = record.get("sender") or {}
            wa_id = sender.get("id")
            if not wa_id:
                continue
            contact = contacts.setdefault(wa_id, Contact(wa_id))
            if sender.get("name"):
                contact.profile_name = sender["name"]
            contact.first_seen = contact.first_seen or sent_at
            contact.last_seen = sent_at
            if record.get("conversation"):
                contact.conversations.add(record["conversation"])
            if kind == "message":
                contact.messages_in += 1
                if contact.opt_in_record is None:
                    contact.opt_in_record = record.get("id")
                    contact.opt_in_at = sent_at
                    contact.opt_in_kind = (
                        "accepted a template"
                        if record.get("type") in TEMPLATE_REPLY_TYPES
                        else "wrote first"
                    )
                if record.get("type") in TEMPLATE_REPLY_TYPES and not contact.template_reply_record:
                    contact.template_reply_record = record.get("id")
        elif direction == "outbound" and kind == "message" and _counts_as_sent(record):
            for wa_id in _outbound_contacts(record):
                contact = contacts.get(wa_id)
                if contact is not None:
                    contact.messages_out += 1
    return contacts


def _counts_as_sent(record: dict[str, Any]) -> bool:
    """What reached the contact: the Cloud API's send results and the business app's echoes
    (WhatsApp side), not the employees' Teams-side attempts, which may have been blocked."""
    return record.get("platform") == "whatsapp"


def _outbound_contacts(record: dict[str, Any]) -> list[str]:
    ids = [p.get("id") for p in record.get("recipients") or [] if p.get("platform") == "whatsapp"]
    if not ids and record.get("conversation"):
        try:
            ids = [parse_conversation_id(record["conversation"])[1]]
        except ValueError:
            ids = []
    return [i for i in ids if i]


async def load_contacts(archive: Archive) -> dict[str, Contact]:
    """The contact registry of the whole archive."""
    import json

    docs = []
    async for _name, data in archive.iter_records():
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        if doc.get("direction") in ("inbound", "outbound"):
            docs.append(doc)
    return contacts_from_records(docs)
