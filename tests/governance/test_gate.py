"""The outbound gate on a real archive: authorization, acknowledgement with held messages,
lexicon; every decision archived. (The same through the fake Bot Connector is in
``test_relay_governance.py``.)"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.cards.policy import ACCEPT_ACTION, accepted_version
from bot.governance.gate import GovernanceGate
from bot.ports import Employee
from bridge.governance.policy import load_policy
from bridge.governance.registry import Member, UserRegistry
from tests.governance.conftest import POLICY_FILE, records_of

ANA = Employee("0b7e3f1e-1111-4a4a-9c9c-00000000a0a0", name="Ana Lima")
EVE = Employee("0b7e3f1e-9999-4a4a-9c9c-00000000e0e0", name="Eve Unlisted")
CONV = "wa:1234567890:447700900123"


async def _registered(archive, *employees):
    for e in employees:
        await UserRegistry(archive).add(
            Member(e.object_id, f"{e.name.split()[0].lower()}@contoso.example", e.name), by="t"
        )


def _gate(archive, policy=None, **kw):
    return GovernanceGate(
        archive, policy if policy is not None else load_policy(POLICY_FILE), registry_ttl=0, **kw
    )


async def test_unregistered_employee_is_refused_never_shown_the_card(archive):
    gate = _gate(archive)
    decision = await gate.check_outbound(
        EVE, text="hello", mime_types=[], held={"conversation": CONV, "activity_id": "act-1"}
    )
    assert decision.action == "refuse" and decision.card is None
    assert "compliance@contoso.example" in decision.message
    [record] = await records_of(archive, "policy")
    assert record["type"] == "refusal" and record["sender"]["id"] == EVE.object_id
    assert record["conversation"] == CONV and record["text"] == "hello"
    assert record["source_id"] == "act-1" and record["direction"] == "internal"
    assert await gate.held.pending(EVE.object_id) == []


async def test_first_use_holds_until_accept_then_releases_exactly_once(archive):
    await _registered(archive, ANA)
    gate = _gate(archive)
    held = {"conversation": CONV, "activity_id": "act-2", "reply_to": "x"}
    decision = await gate.check_outbound(ANA, text="Hi Mr Smith", mime_types=[], held=held)
    assert decision.action == "acknowledge"
    assert decision.card["contentType"] == "application/vnd.microsoft.card.adaptive"
    data = decision.card["content"]["actions"][0]["data"]
    assert accepted_version(data) == "2026-11" and data["wabridge"] == ACCEPT_ACTION
    assert "WhatsApp use at Contoso" in str(decision.card)

    # Another instance (or a restart) handles the Accept: the held message is durable.
    other = _gate(archive)
    released = await other.accept_policy(ANA, "2026-11")
    assert [m["activity_id"] for m in released] == ["act-2"]
    assert released[0]["text"] == "Hi Mr Smith" and released[0]["reply_to"] == "x"
    assert await other.accept_policy(ANA, "2026-11") == []
    assert await gate.accept_policy(ANA, "2026-11") == []

    acks = [r for r in await records_of(archive, "policy") if r["type"] == "acknowledgement"]
    assert len(acks) == 1
    assert acks[0]["raw"]["policy_version"] == "2026-11"
    assert acks[0]["raw"]["policy_text_sha256"] == load_policy(POLICY_FILE).text_sha256
    assert acks[0]["sender"]["id"] == ANA.object_id

    after = await gate.check_outbound(ANA, text="And another", mime_types=[], held={})
    assert after.action == "relay"


async def test_racing_accepts_release_the_held_messages_once(archive):
    await _registered(archive, ANA)
    gate = _gate(archive)
    for i in range(3):
        await gate.check_outbound(ANA, text=f"m{i}", mime_types=[], held={"activity_id": f"a{i}"})
    gates = [_gate(archive) for _ in range(6)]
    results = await asyncio.gather(*(g.accept_policy(ANA, "2026-11") for g in gates))
    released = [m["text"] for r in results for m in r]
    assert sorted(released) == ["m0", "m1", "m2"]


@pytest.mark.parametrize(
    "held", [{"activity_id": "same"}, {"record_id": "01JDEMO0000000000000000000"}]
)
async def test_a_redelivered_activity_is_held_once(archive, held):
    await _registered(archive, ANA)
    gate = _gate(archive)
    for _ in range(2):
        await gate.check_outbound(ANA, text="m", mime_types=[], held=dict(held))
    assert len(await gate.held.pending(ANA.object_id)) == 1
    assert (
        len(
            [
                r
                for r in await records_of(archive, "policy")
                if r["type"] == "acknowledgement_required"
            ]
        )
        == 1
    )


async def test_a_new_policy_version_asks_again(archive):
    await _registered(archive, ANA)
    policy = load_policy(POLICY_FILE)
    gate = _gate(archive, policy)
    await gate.check_outbound(ANA, text="m1", mime_types=[], held={})
    await gate.accept_policy(ANA, "2026-11")
    bumped = dataclasses.replace(policy, version="2026-12")
    new_gate = _gate(archive, bumped)
    decision = await new_gate.check_outbound(ANA, text="m2", mime_types=[], held={})
    assert decision.action == "acknowledge"
    assert await new_gate.accept_policy(ANA, "2026-11") == []  # the old card's button
    assert [m["text"] for m in await new_gate.accept_policy(ANA, "2026-12")] == ["m2"]


async def test_block_and_flag_after_acknowledgement(archive):
    await _registered(archive, ANA)
    gate = _gate(archive)
    await gate.check_outbound(ANA, text="hi", mime_types=[], held={})
    await gate.accept_policy(ANA, "2026-11")

    blocked = await gate.check_outbound(
        ANA, text="card 4111 1111 1111 1111", mime_types=[], held={"conversation": CONV}
    )
    assert blocked.action == "block"
    assert "payment-card" in blocked.message and "Card numbers must not be sent" in blocked.message
    [record] = [r for r in await records_of(archive, "policy") if r["type"] == "block"]
    assert record["flags"] == [
        {
            "rule": "payment-card",
            "action": "block",
            "reason": "Card numbers must not be sent over WhatsApp",
        }
    ]
    assert record["sender"]["id"] == ANA.object_id

    flagged = await gate.check_outbound(ANA, text="Guaranteed returns!", mime_types=[], held={})
    assert flagged.action == "relay"
    assert [f.rule for f in flagged.flags] == ["promissory"]

    zipped = await gate.check_outbound(
        ANA, text="see file", mime_types=["application/zip"], held={}
    )
    assert zipped.action == "block" and "application/zip" in zipped.message


async def test_a_message_that_would_be_blocked_is_not_held(archive):
    await _registered(archive, ANA)
    gate = _gate(archive)
    decision = await gate.check_outbound(ANA, text="4111111111111111", mime_types=[], held={})
    assert decision.action == "acknowledge" and decision.card is not None
    assert "payment-card" in decision.message
    assert await gate.held.pending(ANA.object_id) == []
    assert await gate.accept_policy(ANA, "2026-11") == []


async def test_a_released_flagged_message_carries_its_flags(archive):
    await _registered(archive, ANA)
    gate = _gate(archive)
    await gate.check_outbound(ANA, text="guaranteed return", mime_types=[], held={})
    [released] = await gate.accept_policy(ANA, "2026-11")
    assert released["flags"] == [
        {"rule": "promissory", "action": "flag", "reason": "Promissory language"}
    ]


async def test_registry_changes_are_seen_after_the_cache_expires(archive):
    now = [0.0]
    gate = GovernanceGate(archive, None, registry_ttl=3.0, clock=lambda: now[0])
    assert (await gate.check_outbound(ANA, text="x", mime_types=[], held={})).action == "refuse"
    await _registered(archive, ANA)
    now[0] = 3.0
    assert (await gate.check_outbound(ANA, text="x", mime_types=[], held={})).action == "relay"
    await UserRegistry(archive).remove(object_id=ANA.object_id, by="t")
    now[0] = 6.0
    assert (await gate.check_outbound(ANA, text="x", mime_types=[], held={})).action == "refuse"


async def test_without_a_policy_registered_employees_are_relayed(archive):
    await _registered(archive, ANA)
    gate = GovernanceGate(archive, None, registry_ttl=0)
    decision = await gate.check_outbound(ANA, text="4111111111111111", mime_types=[], held={})
    assert decision.action == "relay" and decision.flags == ()
    assert gate.inbound_flags("Let's talk on Telegram") == ()


def test_inbound_flags_use_inbound_and_both_rules(tmp_path):
    from bridge.archive import Archive
    from bridge.store.local import LocalStore

    gate = GovernanceGate(Archive(LocalStore(tmp_path)), load_policy(POLICY_FILE))
    flags = gate.inbound_flags("Message me on Telegram about guaranteed returns, 4111111111111111")
    assert sorted(f.rule for f in flags) == ["off-channel", "promissory"]
