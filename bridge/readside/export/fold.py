"""One conversation's records as the events a reviewer reads, each event once.

The archive keeps one record per thing that happened, so one conversational event is often
several records: an inbound WhatsApp message and the bot's Teams post relaying it; an employee's
Teams reply, the Cloud API send of it, its sent/delivered/read statuses, a failure; a message,
its edits, its deletion, the reactions to it, the policy decisions about it. :func:`fold` makes
one :class:`Entry` per event, with those records attached to the message they concern, so that
every export format shows each event once and the marks on the message they belong to.

A record whose message is not in the selection (a status of last month's message) becomes an
entry of its own, marked ``orphan``: nothing selected is ever left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: How far a delivery got (a failure is shown on its own, never as a tick).
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 3}


@dataclass
class Entry:
    """One event: its primary record and the records folded into it."""

    doc: dict[str, Any]
    relays: list[dict[str, Any]] = field(default_factory=list)
    sends: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)
    reactions: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    media_links: list[dict[str, Any]] = field(default_factory=list)
    reply_to: Entry | None = None
    #: For an entry that is an annotation whose message is not in the selection: its role.
    orphan: str | None = None

    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def is_message(self) -> bool:
        return self.doc["kind"] == "message" and self.orphan is None

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record of this event, the primary first, then by time."""
        folded = (
            self.relays
            + self.sends
            + self.statuses
            + self.failures
            + self.edits
            + self.deletes
            + self.reactions
            + self.policies
            + self.media_links
        )
        return [self.doc, *sorted(folded, key=_order)]

    def summary(self) -> str:
        """What an event that is not a message is, in words (plain text)."""
        doc = self.doc
        text = doc.get("text") or ""
        about = f" {doc.get('relates_to')} (that message is not in this export)"
        if self.orphan == "statuses":
            return f"Delivery status {doc.get('status')} of message{about}" + (
                f": {text}" if text else ""
            )
        if self.orphan == "reactions":
            return f"Reaction {text or '(removed)'} to message{about}"
        if self.orphan == "edits":
            return f"Edit of message{about}; new text: {text}"
        if self.orphan == "deletes":
            return f"Deletion of message{about}"
        if self.orphan == "relays":
            return f"Teams post relaying record{about}: {text}"
        if doc["kind"] == "call" and doc.get("call"):
            detail = ", ".join(f"{k} {v}" for k, v in sorted(doc["call"].items()))
            return f"Call {doc.get('type') or ''}: {detail}".replace("  ", " ")
        label = doc["kind"] + (f" ({doc['type']})" if doc.get("type") else "")
        return f"{label}: {text}" if text else label

    def about(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """The record of this event that ``doc`` (a relay post, say) relates to."""
        return next((r for r in self.records if r["id"] == doc.get("relates_to")), None)

    @property
    def wamid(self) -> str | None:
        """The WhatsApp message id of the event (an employee message's is its send's)."""
        if self.doc["platform"] == "whatsapp":
            return self.doc.get("source_id")
        return next((s.get("source_id") for s in self.sends if s.get("source_id")), None)

    @property
    def text(self) -> str | None:
        """The text as it stands after the last edit."""
        edits = [e for e in sorted(self.edits, key=_order) if e.get("text") is not None]
        return edits[-1]["text"] if edits else self.doc.get("text")

    @property
    def attachments(self) -> list[dict[str, Any]]:
        """The media of the event; a hash found later (a media link record) filled in."""
        found = self.doc["attachments"] or next(
            (s["attachments"] for s in self.sends if s["attachments"]), []
        )
        linked = {
            a.get("media_id"): a["sha256"]
            for link in self.media_links
            for a in link["attachments"]
            if a.get("sha256") and a.get("media_id")
        }
        return [
            {**a, "sha256": linked.get(a.get("media_id"), a["sha256"])} if not a["sha256"] else a
            for a in found
        ]

    def edit_history(self) -> list[tuple[dict[str, Any], str | None, str | None]]:
        """``(edit record, previous text, new text)`` in the order they happened."""
        out = []
        previous = self.doc.get("text")
        for edit in sorted(self.edits, key=_order):
            out.append((edit, previous, edit.get("text")))
            if edit.get("text") is not None:
                previous = edit["text"]
        return out

    def delivery(self) -> tuple[str | None, list[dict[str, Any]]]:
        """The furthest status reached (``failed`` if the send failed) and the status records
        in order."""
        ordered = sorted(self.statuses, key=_order)
        if self.failures or any(s.get("status") == "failed" for s in ordered):
            return "failed", ordered
        best = max(ordered, key=lambda s: STATUS_RANK.get(s.get("status") or "", 0), default=None)
        if best is None:
            return ("sent" if self.sends else None), ordered
        return best.get("status"), ordered

    def reaction_state(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """The reactions standing at the end: ``(emoji, [reaction records])``; a later reaction
        of the same person replaces their earlier one, an empty one removes it."""
        last: dict[str, dict[str, Any]] = {}
        for reaction in sorted(self.reactions, key=_order):
            sender = (reaction.get("sender") or {}).get("id") or reaction["id"]
            last[sender] = reaction
        by_value: dict[str, list[dict[str, Any]]] = {}
        for reaction in sorted(last.values(), key=_order):
            if reaction.get("text"):
                by_value.setdefault(reaction["text"], []).append(reaction)
        return list(by_value.items())


def _order(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["sent_at"], doc["id"]


def _annotation_role(doc: dict[str, Any]) -> str | None:
    """What an annotating record does to the message it names, or None for a primary."""
    kind = doc["kind"]
    if kind == "message":
        if doc["platform"] == "teams" and doc.get("type") == "relay" and doc.get("relates_to"):
            return "relays"
        if (
            doc["platform"] == "whatsapp"
            and doc["direction"] == "outbound"
            and doc.get("relates_to")
        ):
            return "sends"
        return None
    if not doc.get("relates_to"):
        return None
    return {
        "status": "statuses",
        "reaction": "reactions",
        "edit": "edits",
        "delete": "deletes",
        "error": "failures",
        "policy": "policies",
        "system": "media_links" if doc.get("type") == "media" else None,
    }.get(kind)


def fold(docs: list[dict[str, Any]]) -> list[Entry]:
    """The entries of one conversation's records (cleaned, in time order), in time order."""
    roles = [(doc, _annotation_role(doc)) for doc in docs]
    entries: dict[str, Entry] = {}
    by_key: dict[str, Entry] = {}
    for doc, role in roles:
        if role is None:
            entry = entries[doc["id"]] = Entry(doc)
            _index(by_key, doc, entry)
    # Sends and relays first (by record id), so statuses naming a send's wamid find it.
    pending: list[tuple[dict[str, Any], str]] = []
    later: list[dict[str, Any]] = []  # relays of annotations (the Teams post of a reaction)
    for doc, role in roles:
        if role in ("sends", "relays"):
            target = by_key.get("id:" + doc["relates_to"])
            if target is not None and _fits(role, doc, target):
                getattr(target, role).append(doc)
                _index(by_key, doc, target)
            elif role == "relays" and target is None:
                later.append(doc)
            else:  # a message of its own (a template sent by no employee in the selection)
                entry = entries[doc["id"]] = Entry(doc)
                _index(by_key, doc, entry)
        elif role is not None:
            pending.append((doc, role))
    annotated: dict[str, tuple[Entry, dict[str, Any]]] = {}
    for doc, role in pending:
        target = by_key.get("id:" + doc["relates_to"]) or by_key.get("src:" + doc["relates_to"])
        if target is None and role == "statuses" and doc.get("source_id"):
            target = by_key.get("src:" + doc["source_id"])
        if target is None:
            target = entries[doc["id"]] = Entry(doc, orphan=role)
        else:
            getattr(target, role).append(doc)
        annotated[doc["id"]] = (target, doc)
    for doc in later:
        target, about = annotated.get(doc["relates_to"], (None, None))
        if target is not None and about is not None and about["platform"] == "whatsapp":
            target.relays.append(doc)
        else:
            entries[doc["id"]] = Entry(doc, orphan="relays")
    ordered = sorted(entries.values(), key=lambda e: _order(e.doc))
    for entry in ordered:
        reply = entry.doc.get("reply_to")
        if reply:
            target = by_key.get("id:" + reply) or by_key.get("src:" + reply)
            if target is not None and target is not entry:
                entry.reply_to = target
    return ordered


def _fits(role: str, doc: dict[str, Any], target: Entry) -> bool:
    if target.orphan is not None:
        return False
    if role == "sends":  # a Cloud API send of an employee's Teams message
        return (
            target.doc["kind"] == "message"
            and target.doc["platform"] == "teams"
            and target.doc["direction"] == "outbound"
        )
    return target.doc["platform"] == "whatsapp"  # a Teams post relaying a WhatsApp event


def _index(by_key: dict[str, Entry], doc: dict[str, Any], entry: Entry) -> None:
    by_key.setdefault("id:" + doc["id"], entry)
    if doc.get("source_id"):
        by_key.setdefault("src:" + doc["source_id"], entry)
