"""Who takes part in a conversation, as one stable participant per person or number.

The records name the same person in several ways: the firm's business number appears as its
phone number id (sends) and as its display number (inbound messages, statuses); a contact by
``wa_id``, by BSUID (``user_id``) when the number is withheld, by ``username``; an employee by
Entra object id, with or without UPN. A :class:`Roster` learns from every record of one
conversation which party plays which role, and merges those names into one
:class:`Participant` each, with a stable id, a display name and every identifier known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bridge.ids import WHATSAPP_PREFIX
from bridge.readside.query import phone_digits

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
_LOCAL_SAFE = re.compile(r"[^A-Za-z0-9._+-]")

BUSINESS, CONTACT, EMPLOYEE = "business", "contact", "employee"
BOT, CHANNEL, ACTOR = "bot", "channel", "actor"


@dataclass
class Participant:
    """One person or number. ``ids`` holds every identifier known (``wa_id``, ``user_id``,
    ``parent_user_id``, ``username``, ``upn``, ``object_id``, ``phone_number_id``,
    ``display_number``, ``id``)."""

    pid: str
    role: str
    name: str | None = None
    ids: dict[str, str] = field(default_factory=dict)

    def learn(self, party: dict[str, Any]) -> None:
        if party.get("name"):
            self.name = party["name"]
        for key in ("wa_id", "user_id", "parent_user_id", "username", "upn"):
            if party.get(key):
                self.ids[key] = party[key]

    @property
    def phone(self) -> str | None:
        """E.164 (``+447700900123``) of a contact or the business, when known."""
        for key in ("wa_id", "display_number"):
            digits = phone_digits(self.ids.get(key, ""))
            if digits and digits == self.ids.get(key, "").lstrip("+"):
                return "+" + digits
        return None

    @property
    def email(self) -> str | None:
        upn = self.ids.get("upn")
        return upn if upn and _EMAIL.match(upn) else None

    @property
    def account_id(self) -> str:
        """The id that distinguishes the participant in its application."""
        for key in ("object_id", "wa_id", "user_id", "phone_number_id", "username", "id"):
            if self.ids.get(key):
                return self.ids[key]
        return self.pid

    @property
    def display(self) -> str:
        if self.role == BUSINESS:
            return self.name or (
                f"WhatsApp Business {self.phone}" if self.phone else "WhatsApp Business"
            )
        if self.name:
            return self.name
        if self.role == CONTACT:
            if self.phone:
                return self.phone
            if self.ids.get("username"):
                return "@" + self.ids["username"]
        return self.ids.get("upn") or self.account_id

    @property
    def label(self) -> str:
        """The display name with the identity a reviewer checks it by: ``Zoë (+4477…)``."""
        detail = {
            CONTACT: self.phone or self.ids.get("username") or self.ids.get("user_id"),
            BUSINESS: self.phone,
            EMPLOYEE: self.ids.get("upn") or self.ids.get("object_id"),
        }.get(self.role)
        shown = self.display
        return f"{shown} ({detail})" if detail and detail not in shown else shown

    def identity_lines(self) -> list[tuple[str, str]]:
        """(label, value) of every identifier, for a participant list or custom metadata."""
        names = {
            "phone": "phone",
            "wa_id": "wa_id",
            "user_id": "BSUID (user_id)",
            "parent_user_id": "parent_user_id",
            "username": "username",
            "upn": "UPN",
            "object_id": "Entra object id",
            "phone_number_id": "phone number id",
            "display_number": "display number",
        }
        out = [("role", self.role)]
        if self.phone:
            out.append(("phone", self.phone))
        out += [(names[k], self.ids[k]) for k in names if k != "phone" and self.ids.get(k)]
        return out

    def address(self) -> tuple[str, str]:
        """``(local part, domain)`` of a stable, never-routable mail address (UPN if known)."""
        if self.email:
            local, _, domain = self.email.rpartition("@")
            return local, domain
        if self.role == BUSINESS:
            return "business." + _local(self.ids.get("phone_number_id") or self.account_id), (
                "whatsapp.invalid"
            )
        if self.role == CONTACT:
            wa = phone_digits(self.ids.get("wa_id", ""))
            if wa:
                return wa, "whatsapp.invalid"
            return "user." + _local(self.account_id), "whatsapp.invalid"
        if self.role in (EMPLOYEE, BOT, CHANNEL):
            return _local(self.account_id), "teams.invalid"
        return _local(self.account_id), "wabridge.invalid"


def _local(value: str) -> str:
    return _LOCAL_SAFE.sub("_", value)[:64].strip(".") or "unknown"


def business_number_id(conversation: str | None) -> str | None:
    """The business phone number id a WhatsApp conversation id starts with (``wa:PNID:…``)."""
    parts = (conversation or "").split(":")
    if len(parts) >= 3 and parts[0] == WHATSAPP_PREFIX and parts[1]:
        return parts[1]
    return None


def roles_of(doc: dict[str, Any]) -> tuple[str | None, str | None]:
    """Which role the sender and the recipients of a record play."""
    platform, direction = doc["platform"], doc["direction"]
    if platform == "whatsapp":
        if direction == "inbound":
            return CONTACT, BUSINESS
        if direction == "outbound":
            return BUSINESS, CONTACT
        return None, None
    if doc.get("type") == "relay" and direction == "inbound":
        return BOT, CHANNEL
    if direction == "outbound":
        return EMPLOYEE, CONTACT
    return ACTOR, ACTOR


class Roster:
    """The participants of one conversation (see the module docstring)."""

    def __init__(self, conversation: str | None, *, business_name: str | None = None) -> None:
        self.conversation = conversation
        self.group = False
        self._by_key: dict[str, Participant] = {}
        self._order: list[Participant] = []
        self.business: Participant | None = None
        pnid = business_number_id(conversation)
        if pnid:
            self.business = self._new(f"business:{pnid}", BUSINESS)
            self.business.ids["phone_number_id"] = pnid
            self.business.name = business_name
            self._business_name = business_name

    def _new(self, pid: str, role: str) -> Participant:
        person = Participant(pid, role)
        self._order.append(person)
        return person

    # -- learning ------------------------------------------------------------------------------
    def roles(self, doc: dict[str, Any]) -> tuple[str | None, str | None]:
        """:func:`roles_of`, except that the business number is the business wherever it
        stands (a group event it sends, naming the members it concerns)."""
        roles = roles_of(doc)
        sender = doc.get("sender")
        if doc["platform"] == "whatsapp" and sender and self.business is not None:
            if sender["id"] in (
                self.business.ids.get("phone_number_id"),
                self.business.ids.get("display_number"),
            ):
                return BUSINESS, CONTACT
        return roles

    def observe(self, doc: dict[str, Any]) -> None:
        if doc.get("group"):
            self.group = True
        sender_role, recipient_role = self.roles(doc)
        if doc.get("sender"):
            self._learn(doc["sender"], sender_role)
        for party in doc.get("recipients") or []:
            self._learn(party, recipient_role, group=doc.get("group"))

    def _learn(self, party: dict[str, Any], role: str | None, group: Any = None) -> None:
        if role is None:
            return
        if group and party["id"] == group.get("id"):
            return  # the group itself, not a member
        person = self.person(party, role)
        if person is None:
            return
        if role == BUSINESS:
            if party["id"] != person.ids.get("phone_number_id"):
                person.ids.setdefault("display_number", party["id"])
            if party.get("name") and not self._business_name:
                person.name = party["name"]
            return
        person.learn(party)

    # -- lookups -------------------------------------------------------------------------------
    def person(self, party: dict[str, Any] | None, role: str | None) -> Participant | None:
        """The participant behind ``party`` in ``role`` (created on first sight)."""
        if not party or role is None:
            return None
        if role == BUSINESS and self.business is not None:
            return self.business
        if role == CONTACT:
            return self._contact(party)
        if role == EMPLOYEE or (role == ACTOR and _GUID.match(party["id"])):
            key = "employee:" + party["id"]
            person = self._by_key.get(key)
            if person is None:
                person = self._by_key[key] = self._new(key, EMPLOYEE)
                person.ids["object_id"] = party["id"]
            person.learn(party)
            return person
        key = f"{role}:{party['id']}"
        person = self._by_key.get(key)
        if person is None:
            person = self._by_key[key] = self._new(key, role)
            person.ids["id"] = party["id"]
        person.learn(party)
        return person

    def _contact(self, party: dict[str, Any]) -> Participant:
        keys = _contact_keys(party)
        if not self.group and self._contact_person() is not None:
            person = self._contact_person()
        else:
            person = next((self._by_key[k] for k in keys if k in self._by_key), None)
        if person is None:
            primary = party.get("wa_id") or party["id"]
            person = self._new(f"contact:{primary}", CONTACT)
        for key in keys:
            self._by_key.setdefault(key, person)
        if party["id"].isdigit():
            person.ids.setdefault("wa_id", party["id"])
        elif not party.get("user_id") and not party.get("wa_id"):
            person.ids.setdefault("user_id", party["id"])
        person.learn(party)
        return person

    def _contact_person(self) -> Participant | None:
        return next((p for p in self._order if p.role == CONTACT), None)

    def sender(self, doc: dict[str, Any]) -> Participant | None:
        return self.person(doc.get("sender"), self.roles(doc)[0])

    def recipients(self, doc: dict[str, Any]) -> list[Participant]:
        role = self.roles(doc)[1]
        group = doc.get("group")
        out = []
        for party in doc.get("recipients") or []:
            if group and party["id"] == group.get("id"):
                continue
            person = self.person(party, role)
            if person is not None and person not in out:
                out.append(person)
        return out

    @property
    def contacts(self) -> list[Participant]:
        return [p for p in self._order if p.role == CONTACT]

    @property
    def participants(self) -> list[Participant]:
        """Everyone, the business first, then in order of first appearance."""
        return list(self._order)


def _contact_keys(party: dict[str, Any]) -> list[str]:
    keys = []
    for name in ("wa_id", "user_id"):
        if party.get(name):
            keys.append(f"{name}:{party[name]}")
    ident = party["id"]
    keys.append(f"wa_id:{ident}" if ident.isdigit() else f"user_id:{ident}")
    return list(dict.fromkeys(keys))
