"""The outbound gate used when no governance is configured: a registered-employee allow-list.

It only authorizes: an employee listed in ``state/registry/employees.json`` is relayed, anyone
else is refused (and the refusal archived as a ``policy`` record). The document is::

    {"employees": [{"object_id": "<Entra object id>", "upn": "ann@contoso.com", "name": "Ann"}]}

Governance (policy acknowledgement, lexicon) replaces this gate through ``app[OUTBOUND_GATE]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.ports import Employee, GateDecision
from bot.relay.docs import EMPLOYEES, read_json, update_json
from bridge.archive import Archive, dedupe_key_for
from bridge.record import Party, Record, now_rfc3339


class AllowListGate:
    """Relays registered employees, refuses everyone else (``bot.ports.OutboundGate``)."""

    def __init__(self, archive: Archive) -> None:
        self._archive = archive

    async def is_registered(self, object_id: str) -> bool:
        doc = await read_json(self._archive.store, EMPLOYEES) or {}
        return any(e.get("object_id") == object_id for e in doc.get("employees") or ())

    async def check_outbound(
        self, employee: Employee, *, text: str, mime_types: Sequence[str], held: dict[str, Any],
    ) -> GateDecision:
        if await self.is_registered(employee.object_id):
            return GateDecision("relay")
        record = Record(
            conversation=held.get("conversation"), platform="teams", direction="internal",
            kind="policy", type="refused", source_id=None, sent_at=now_rfc3339(),
            captured_at="",
            sender=Party(employee.object_id, employee.name, "teams", employee.upn),
            text="Refused: not a registered WhatsApp relay user",
            relates_to=held.get("record_id"),
            raw={"decision": "refuse", "reason": "not registered"},
        ).sealed()
        stored = (await self._archive.put(record, dedupe_key_for(record))).record
        return GateDecision(
            "refuse",
            message="You are not registered to send WhatsApp messages through this inbox; "
                    "ask your compliance team to add you. Nothing was sent.",
            records=(stored,),
        )

    async def accept_policy(self, employee: Employee, version: str) -> list[dict[str, Any]]:
        return []

    def inbound_flags(self, text: str) -> tuple[Any, ...]:
        return ()


async def register_employee(archive: Archive, object_id: str, upn: str | None = None,
                            name: str | None = None) -> None:
    """Add an employee to the allow-list (used by the demo and tests)."""

    def add(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        doc = doc or {"employees": []}
        if any(e.get("object_id") == object_id for e in doc["employees"]):
            return None
        doc["employees"].append({"object_id": object_id, "upn": upn, "name": name})
        return doc

    await update_json(archive.store, EMPLOYEES, add)
