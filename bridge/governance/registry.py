"""The registry of employees authorized to use the relay, kept in the archive's store.

One state document (``state/governance/users.json``) holds every entry: Entra object id, UPN,
display name, who added it and when. Every change is an ``audit`` record. The audit records of
a change are written into the document together with the change (``pending_audit``) and then
archived; any later change first archives what an interrupted one left pending, so no change
goes unaudited and none is audited twice.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from bridge.archive import Archive, dedupe_key_for
from bridge.governance.state import read_doc, update_doc
from bridge.ids import state_blob_name
from bridge.record import Party, Record, now_rfc3339

REGISTRY_DOC = state_blob_name("governance", "users")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class RegistryError(ValueError):
    """A registry request that cannot be carried out (bad id, unknown user)."""


def normalize_object_id(value: str) -> str:
    """Entra object ids are GUIDs; compare them lower-case."""
    oid = (value or "").strip().lower()
    if not _GUID.match(oid):
        raise RegistryError(f"not an Entra object id (a GUID): {value!r}")
    return oid


def check_upn(value: str) -> str:
    upn = (value or "").strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", upn):
        raise RegistryError(f"not a user principal name (name@domain): {value!r}")
    return upn


@dataclass(frozen=True)
class AuthorizedUser:
    """An employee allowed to use the relay."""

    object_id: str
    upn: str
    name: str | None
    added_by: str
    added_at: str
    source: str = "manual"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuthorizedUser:
        return cls(
            object_id=data["object_id"], upn=data["upn"], name=data.get("name"),
            added_by=data.get("added_by", ""), added_at=data.get("added_at", ""),
            source=data.get("source", "manual"),
        )

    def party(self) -> Party:
        return Party(id=self.object_id, name=self.name, platform="teams", upn=self.upn)


@dataclass(frozen=True)
class Member:
    """A user as the directory lists them (what a sync wants the registry to hold)."""

    object_id: str
    upn: str
    name: str | None = None


@dataclass(frozen=True)
class RegistryChange:
    """What one registry operation changed."""

    added: tuple[AuthorizedUser, ...] = ()
    removed: tuple[AuthorizedUser, ...] = ()
    updated: tuple[AuthorizedUser, ...] = ()
    records: tuple[Record, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.updated)


class UserRegistry:
    """Reads and changes the authorized-user registry; every change is audited."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    async def users(self) -> dict[str, AuthorizedUser]:
        """Every authorized user by (lower-case) object id."""
        doc, _ = await read_doc(self.archive.store, REGISTRY_DOC)
        return {oid: AuthorizedUser.from_dict(u) for oid, u in (doc.get("users") or {}).items()}

    async def get(self, object_id: str) -> AuthorizedUser | None:
        return (await self.users()).get((object_id or "").strip().lower())

    async def add(self, member: Member, *, by: str) -> RegistryChange:
        """Authorize one employee (or update their UPN/name if already there)."""
        oid, upn = normalize_object_id(member.object_id), check_upn(member.upn)
        return await self._change(
            lambda users: _plan_upsert(users, [Member(oid, upn, member.name)], by, "manual"), by,
        )

    async def remove(self, *, object_id: str | None = None, upn: str | None = None,
                     by: str) -> RegistryChange:
        """Withdraw one employee's authorization, by object id or UPN."""
        if bool(object_id) == bool(upn):
            raise RegistryError("name the user by exactly one of object id or UPN")
        wanted_oid = normalize_object_id(object_id) if object_id else None

        def plan(users: dict[str, dict]) -> tuple[list, list, list]:
            for oid, entry in users.items():
                if oid == wanted_oid or (upn and entry["upn"].lower() == upn.strip().lower()):
                    return [], [AuthorizedUser.from_dict(entry)], []
            named = f"object id {object_id}" if object_id else f"UPN {upn}"
            raise RegistryError(f"no authorized user with {named}")

        return await self._change(plan, by)

    async def replace_all(
        self, members: Iterable[Member], *, by: str, source: str
    ) -> RegistryChange:
        """Make the registry exactly ``members`` (a directory sync): add, update and remove."""
        wanted: dict[str, Member] = {}
        for member in members:
            oid = normalize_object_id(member.object_id)
            wanted[oid] = Member(oid, member.upn or oid, member.name)

        def plan(users: dict[str, dict]) -> tuple[list, list, list]:
            added, _, updated = _plan_upsert(users, wanted.values(), by, source)
            removed = [AuthorizedUser.from_dict(e) for oid, e in users.items() if oid not in wanted]
            return added, removed, updated

        return await self._change(plan, by)

    async def flush_audit(self) -> None:
        """Archive audit records an interrupted change left pending, then forget them."""
        doc, _ = await read_doc(self.archive.store, REGISTRY_DOC)
        pending = doc.get("pending_audit") or []
        if not pending:
            return
        records = [Record.from_dict(data) for data in pending]
        for start in range(0, len(records), 64):
            await self.archive.put_many([(r, dedupe_key_for(r)) for r in records[start:start + 64]])
        done = {d["id"] for d in pending}

        def forget(current: dict) -> tuple[dict | None, None]:
            left = [d for d in current.get("pending_audit") or [] if d["id"] not in done]
            if len(left) == len(current.get("pending_audit") or []):
                return None, None
            current["pending_audit"] = left
            return current, None

        await update_doc(self.archive.store, REGISTRY_DOC, forget)

    async def _change(self, plan, by: str) -> RegistryChange:
        await self.flush_audit()

        def apply(current: dict) -> tuple[dict | None, RegistryChange]:
            doc = copy.deepcopy(current) or {"schema": "wabridge.users/1", "users": {}}
            users: dict[str, dict] = doc.setdefault("users", {})
            added, removed, updated = plan(users)
            if not (added or removed or updated):
                return None, RegistryChange()
            for user in (*added, *updated):
                users[user.object_id] = user.to_dict()
            for user in removed:
                users.pop(user.object_id, None)
            records = tuple(
                [audit_record("user_added", u, by) for u in added]
                + [audit_record("user_updated", u, by) for u in updated]
                + [audit_record("user_removed", u, by) for u in removed]
            )
            doc["revision"] = int(doc.get("revision", 0)) + 1
            pending = list(doc.get("pending_audit") or [])
            doc["pending_audit"] = pending + [r.to_dict() for r in records]
            return doc, RegistryChange(tuple(added), tuple(removed), tuple(updated), records)

        change = await update_doc(self.archive.store, REGISTRY_DOC, apply)
        if change.changed:
            await self.flush_audit()
        return change


def _plan_upsert(users: dict[str, dict], members: Iterable[Member], by: str,
                 source: str) -> tuple[list, list, list]:
    added, updated = [], []
    now = now_rfc3339()
    for member in members:
        existing = users.get(member.object_id)
        if existing is None:
            added.append(AuthorizedUser(member.object_id, member.upn, member.name, by, now, source))
        elif existing["upn"] != member.upn or (member.name and existing.get("name") != member.name):
            old = AuthorizedUser.from_dict(existing)
            updated.append(AuthorizedUser(old.object_id, member.upn, member.name or old.name,
                                          old.added_by, old.added_at, old.source))
    return added, [], updated


_AUDIT_TEXT = {
    "user_added": "Authorized {who} to use the WhatsApp relay",
    "user_updated": "Updated the registry entry of {who}",
    "user_removed": "Withdrew the WhatsApp relay authorization of {who}",
}


def audit_record(action: str, user: AuthorizedUser, by: str) -> Record:
    """The sealed ``audit`` record of one registry change, made by ``by``."""
    who = f"{user.upn} ({user.object_id})"
    return Record(
        conversation=None, platform="teams", direction="internal", kind="audit", type=action,
        source_id=None, sent_at=now_rfc3339(), captured_at="",
        sender=Party(id=by, name=by, platform="teams"),
        recipients=(user.party(),),
        text=_AUDIT_TEXT[action].format(who=who) + f" (by {by})",
        raw={"registry": "authorized_users", "action": action, "user": user.to_dict(), "by": by},
    ).sealed()
