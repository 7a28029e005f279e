"""The authorized-user registry in the archive's store; every change is an audit record."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bridge.governance.registry import (
    REGISTRY_DOC,
    AuthorizedUser,
    Member,
    RegistryError,
    UserRegistry,
    UsersDoc,
    audit_record,
)
from bridge.state import DocStore
from tests.governance.conftest import records_of

ANA = Member("0b7e3f1e-1111-4a4a-9c9c-00000000a0a0", "ana@contoso.example", "Ana Lima")
BEN = Member("0b7e3f1e-2222-4a4a-9c9c-00000000b0b0", "ben@contoso.example", "Ben Ode")


async def test_add_list_remove_with_audit_records(archive):
    registry = UserRegistry(archive)
    change = await registry.add(ANA, by="cli:admin")
    assert [u.upn for u in change.added] == ["ana@contoso.example"]
    await registry.add(BEN, by="cli:admin")
    users = await registry.users()
    assert set(users) == {ANA.object_id, BEN.object_id}
    assert users[ANA.object_id].added_by == "cli:admin" and users[ANA.object_id].added_at

    await registry.remove(upn="BEN@contoso.example", by="cli:admin")
    assert set(await registry.users()) == {ANA.object_id}

    audits = await records_of(archive, "audit")
    assert [(a["type"], a["recipients"][0]["id"]) for a in audits] == [
        ("user_added", ANA.object_id),
        ("user_added", BEN.object_id),
        ("user_removed", BEN.object_id),
    ]
    for audit in audits:
        assert (audit["platform"], audit["direction"], audit["conversation"]) == (
            "teams",
            "internal",
            None,
        )
        assert audit["sender"]["id"] == "cli:admin"
        assert audit["recipients"][0]["upn"].endswith("@contoso.example")


async def test_adding_again_changes_nothing_and_writes_no_audit(archive):
    registry = UserRegistry(archive)
    await registry.add(ANA, by="a")
    again = await registry.add(ANA, by="b")
    assert not again.changed
    assert len(await records_of(archive, "audit")) == 1


async def test_changed_upn_is_an_update(archive):
    registry = UserRegistry(archive)
    await registry.add(ANA, by="a")
    change = await registry.add(Member(ANA.object_id.upper(), "ana.lima@contoso.example"), by="a")
    assert [u.upn for u in change.updated] == ["ana.lima@contoso.example"]
    user = (await registry.users())[ANA.object_id]
    assert (user.upn, user.name, user.added_by) == ("ana.lima@contoso.example", "Ana Lima", "a")


async def test_bad_input_is_refused_before_anything_changes(archive):
    registry = UserRegistry(archive)
    with pytest.raises(RegistryError, match="not an Entra object id"):
        await registry.add(Member("ana", "ana@contoso.example"), by="a")
    with pytest.raises(RegistryError, match="not a user principal name"):
        await registry.add(Member(ANA.object_id, "ana"), by="a")
    with pytest.raises(RegistryError, match="no authorized user"):
        await registry.remove(upn="nobody@contoso.example", by="a")
    assert await registry.users() == {}
    assert await records_of(archive, "audit") == []


async def test_concurrent_adds_all_land(archive):
    members = [
        Member(f"0b7e3f1e-3333-4a4a-9c9c-{i:012d}", f"u{i}@contoso.example") for i in range(8)
    ]
    await asyncio.gather(*(UserRegistry(archive).add(m, by="a") for m in members))
    assert len(await UserRegistry(archive).users()) == 8
    assert len(await records_of(archive, "audit")) == 8


async def test_audit_left_pending_by_an_interrupted_change_is_archived_once(archive):
    """A change whose audit records were not yet archived (the writer died) is audited by the
    next change, exactly once."""
    registry = UserRegistry(archive)
    await registry.add(ANA, by="a")
    orphan = audit_record(
        "user_added",
        AuthorizedUser(
            BEN.object_id, BEN.upn, BEN.name, "crashed-writer", "2026-11-28T18:00:00.000Z"
        ),
        "crashed",
    )

    def crash_after_state_write(doc):
        ben = AuthorizedUser(BEN.object_id, BEN.upn, None, "crashed", "x", "manual")
        return replace(
            doc, users={**doc.users, BEN.object_id: ben}, pending_audit=(orphan.to_dict(),)
        )

    await DocStore(archive.store, UsersDoc).update(REGISTRY_DOC, crash_after_state_write)
    await registry.remove(upn=ANA.upn, by="a")
    await registry.flush_audit()
    audits = await records_of(archive, "audit")
    assert [a["id"] for a in audits].count(orphan.id) == 1
    assert [a["type"] for a in audits] == ["user_added", "user_added", "user_removed"]
