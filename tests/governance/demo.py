"""A small demo archive for the governance CLI: two employees, one contact, decisions."""

from __future__ import annotations

import dataclasses

from bot.governance.gate import GovernanceGate
from bot.ports import Employee
from bridge.archive import Archive, dedupe_key_for
from bridge.governance.policy import load_policy
from bridge.governance.registry import Member, UserRegistry
from bridge.ids import make_conversation_id
from bridge.record import Flag, Party, Record, now_rfc3339
from tests.governance.conftest import POLICY_FILE

PNID = "109876543210987"
CONTACT = "447700900123"
CONVERSATION = make_conversation_id(PNID, CONTACT)
ANA = Employee("0b7e3f1e-1111-4a4a-9c9c-00000000a0a0", name="Ana Lima")
BEN = Employee("0b7e3f1e-2222-4a4a-9c9c-00000000b0b0", name="Ben Ode")


def inbound(
    wa_id: str, name: str, text: str, wamid: str, sent_at: str, type_: str = "text"
) -> Record:
    return Record(
        conversation=make_conversation_id(PNID, wa_id),
        platform="whatsapp",
        direction="inbound",
        kind="message",
        type=type_,
        source_id=wamid,
        sent_at=sent_at,
        captured_at="",
        sender=Party(wa_id, name, "whatsapp"),
        recipients=(Party(PNID, None, "whatsapp"),),
        text=text,
        raw={"demo": True},
    )


def employee_message(
    employee: Employee, upn: str, text: str, activity: str, sent_at: str
) -> Record:
    """The employee's own message as the relay archives it (before the gate decides)."""
    return Record(
        conversation=CONVERSATION,
        platform="teams",
        direction="outbound",
        kind="message",
        type="message",
        source_id=activity,
        sent_at=sent_at,
        captured_at="",
        sender=Party(employee.object_id, employee.name, "teams", upn),
        recipients=(Party(CONTACT, None, "whatsapp"),),
        text=text,
        raw={"demo": True},
    ).sealed()


def send_result(employee_record: Record, wamid: str, flags: tuple[Flag, ...] = ()) -> Record:
    """The Cloud API send of a relayed message, linked to the employee's record."""
    return Record(
        conversation=CONVERSATION,
        platform="whatsapp",
        direction="outbound",
        kind="message",
        type="text",
        source_id=wamid,
        sent_at=employee_record.sent_at,
        captured_at="",
        sender=Party(PNID, None, "whatsapp"),
        recipients=(Party(CONTACT, None, "whatsapp"),),
        text=employee_record.text,
        relates_to=employee_record.id,
        flags=flags,
        raw={"demo": True},
    )


async def build_demo_archive(archive: Archive) -> None:
    """Ana accepts the policy, sends two messages (one flagged), has one blocked; Ben is
    registered and has not acknowledged; an unregistered employee is refused."""
    registry = UserRegistry(archive)
    await registry.add(Member(ANA.object_id, "ana@contoso.example", ANA.name), by="cli:admin")
    await registry.add(Member(BEN.object_id, "ben@contoso.example", BEN.name), by="cli:admin")
    policy = load_policy(POLICY_FILE)
    old = dataclasses.replace(policy, version="2026-10")
    gate = GovernanceGate(archive, old, registry_ttl=0)

    for record in (
        inbound(
            CONTACT,
            "Sam Carter",
            "Hello, is my account open?",
            "wamid.demo1",
            "2026-11-20T09:00:00.000Z",
        ),
        inbound(CONTACT, "Sam Carter", "Thanks!", "wamid.demo2", "2026-11-20T09:05:00.000Z"),
        inbound(
            "5511987654321",
            "Lia",
            "Yes, please",
            "wamid.demo3",
            "2026-11-21T14:00:00.000Z",
            type_="button",
        ),
    ):
        await archive.put(record, dedupe_key_for(record))

    async def attempt(
        employee: Employee,
        text: str,
        activity: str,
        gate: GovernanceGate,
        accept: str | None = None,
    ) -> None:
        own = employee_message(
            employee,
            f"{employee.name.split()[0].lower()}@contoso.example",
            text,
            activity,
            now_rfc3339(),
        )
        await archive.put(own, dedupe_key_for(own))
        held = {"conversation": CONVERSATION, "record_id": own.id, "text": text}
        decision = await gate.check_outbound(employee, text=text, mime_types=[], held=held)
        sends: list[tuple[dict, tuple]] = []
        if decision.action == "relay":
            sends.append((held, decision.flags))
        if accept:
            sends += [
                (h, tuple(Flag(**f) for f in h.get("flags") or ()))
                for h in await gate.accept_policy(employee, accept)
            ]
        for _held, flags in sends:
            result = send_result(own, f"wamid.demo-{activity}", flags)
            await archive.put(result, dedupe_key_for(result))

    await attempt(ANA, "Good morning Sam", "demo-a1", gate, accept="2026-10")
    gate = GovernanceGate(archive, policy, registry_ttl=0)
    await attempt(ANA, "Your account is open", "demo-a2", gate, accept="2026-11")
    await attempt(ANA, "These are guaranteed returns", "demo-a3", gate)
    await attempt(ANA, "Card 4111 1111 1111 1111", "demo-a4", gate)
    await attempt(
        Employee("0b7e3f1e-9999-4a4a-9c9c-00000000e0e0", name="Eve Unlisted"), "hi", "demo-e1", gate
    )
