"""The registry of employees authorized to use the relay, kept in the archive's store.

One state document (``state/governance/users.json``) holds every entry: Entra object id, UPN,
display name, who added it and when. Every change is an ``audit`` record. The audit records of
a change are written into the document together with the change (``pending_audit``) and then
archived; any later change first archives what an interrupted one left pending, so no change
goes unaudited and none is audited twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bridge.archive import Archive, dedupe_key_for
from bridge.convert.internal import registry_audit_record
from bridge.ids import state_blob_name
from bridge.record import Party, Record, now_rfc3339
from bridge.state import DocStore

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
            object_id=data["object_id"],
            upn=data["upn"],
            name=data.get("name"),
            added_by=data.get("added_by", ""),
            added_at=data.get("added_at", ""),
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


@dataclass(frozen=True)
class UsersDoc:
    """``state/governance/users.json``: every entry, a revision, and the audit records of the
    last change until they are archived (``pending_audit``: record dicts)."""

    users: dict[str, AuthorizedUser] = field(default_factory=dict)
    revision: int = 0
    pending_audit: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "wabridge.users/1",
            "users": {oid: user.to_dict() for oid, user in self.users.items()},
            "revision": self.revision,
            "pending_audit": list(self.pending_audit),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UsersDoc:
        return cls(
            users={
                oid: AuthorizedUser.from_dict(entry)
                for oid, entry in (data.get("users") or {}).items()
            },
            revision=int(data.get("revision") or 0),
            pending_audit=tuple(data.get("pending_audit") or ()),
        )


Plan = Callable[[dict[str, AuthorizedUser]], tuple[list, list, list]]


class UserRegistry:
    """Reads and changes the authorized-user registry; every change is audited."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.docs = DocStore(archive.store, UsersDoc)

    async def users(self) -> dict[str, AuthorizedUser]:
        """Every authorized user by (lower-case) object id."""
        doc = await self.docs.get(REGISTRY_DOC)
        return dict(doc.users) if doc else {}

    async def get(self, object_id: str) -> AuthorizedUser | None:
        return (await self.users()).get((object_id or "").strip().lower())

    async def add(self, member: Member, *, by: str) -> RegistryChange:
        """Authorize one employee (or update their UPN/name if already there)."""
        oid, upn = normalize_object_id(member.object_id), check_upn(member.upn)
        return await self._change(
            lambda users: _plan_upsert(users, [Member(oid, upn, member.name)], by, "manual"),
            by,
        )

    async def remove(
        self, *, object_id: str | None = None, upn: str | None = None, by: str
    ) -> RegistryChange:
        """Withdraw one employee's authorization, by object id or UPN."""
        if bool(object_id) == bool(upn):
            raise RegistryError("name the user by exactly one of object id or UPN")
        wanted_oid = normalize_object_id(object_id) if object_id else None

        def plan(users: dict[str, AuthorizedUser]) -> tuple[list, list, list]:
            for oid, entry in users.items():
                if oid == wanted_oid or (upn and entry.upn.lower() == upn.strip().lower()):
                    return [], [entry], []
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

        def plan(users: dict[str, AuthorizedUser]) -> tuple[list, list, list]:
            added, _, updated = _plan_upsert(users, wanted.values(), by, source)
            removed = [entry for oid, entry in users.items() if oid not in wanted]
            return added, removed, updated

        return await self._change(plan, by)

    async def flush_audit(self) -> None:
        """Archive audit records an interrupted change left pending, then forget them."""
        doc = await self.docs.get(REGISTRY_DOC)
        pending = doc.pending_audit if doc else ()
        if not pending:
            return
        records = [Record.from_dict(data) for data in pending]
        for start in range(0, len(records), 64):
            await self.archive.put_many(
                [(r, dedupe_key_for(r)) for r in records[start : start + 64]]
            )
        done = {d["id"] for d in pending}

        def forget(current: UsersDoc | None) -> UsersDoc | None:
            if current is None:
                return None
            left = tuple(d for d in current.pending_audit if d["id"] not in done)
            if len(left) == len(current.pending_audit):
                return None
            return replace(current, pending_audit=left)

        await self.docs.update(REGISTRY_DOC, forget)

    async def _change(self, plan: Plan, by: str) -> RegistryChange:
        await self.flush_audit()
        outcome: list[RegistryChange] = []

        def apply(current: UsersDoc | None) -> UsersDoc | None:
            outcome.clear()
            doc = current or UsersDoc()
            users = dict(doc.users)
            added, removed, updated = plan(users)
            if not (added or removed or updated):
                outcome.append(RegistryChange())
                return None
            for user in (*added, *updated):
                users[user.object_id] = user
            for user in removed:
                users.pop(user.object_id, None)
            records = tuple(
                [audit_record("user_added", u, by) for u in added]
                + [audit_record("user_updated", u, by) for u in updated]
                + [audit_record("user_removed", u, by) for u in removed]
            )
            outcome.append(RegistryChange(tuple(added), tuple(removed), tuple(updated), records))
            return UsersDoc(
                users, doc.revision + 1, doc.pending_audit + tuple(r.to_dict() for r in records)
            )

        await self.docs.update(REGISTRY_DOC, apply)
        change = outcome[0]
        if change.changed:
            await self.flush_audit()
        return change


def _plan_upsert(
    users: dict[str, AuthorizedUser], members: Iterable[Member], by: str, source: str
) -> tuple[list, list, list]:
    added, updated = [], []
    now = now_rfc3339()
    for member in members:
        old = users.get(member.object_id)
        if old is None:
            added.append(AuthorizedUser(member.object_id, member.upn, member.name, by, now, source))
        elif old.upn != member.upn or (member.name and old.name != member.name):
            updated.append(
                AuthorizedUser(
                    old.object_id,
                    member.upn,
                    member.name or old.name,
                    old.added_by,
                    old.added_at,
                    old.source,
                )
            )
    return added, [], updated


def audit_record(action: str, user: AuthorizedUser, by: str) -> Record:
    """The sealed ``audit`` record of one registry change, made by ``by``."""
    return registry_audit_record(action, user.to_dict(), user.party(), by)
