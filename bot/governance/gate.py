"""The real :class:`bot.ports.OutboundGate`: authorization, policy acknowledgement, lexicon.

Order of decisions (DESIGN.md §3.6): an employee missing from the registry is refused (never
shown the policy card); then, with a policy file, an employee who has not accepted its current
version gets the card and their message is held durably until they accept; then the lexicon
blocks or flags. Refusals, holds, acknowledgements and blocks are archived as ``policy``
records naming the employee's Entra object id, before the decision is returned.

The registry is re-read from the archive's store at most every ``registry_ttl`` seconds, so a
running service sees ``wabridge users add|remove|sync`` within seconds without a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from bot.cards.policy import card_attachment, policy_card
from bot.ports import Employee, GateDecision
from bridge.archive import Archive, dedupe_key_for
from bridge.convert.internal import policy_record
from bridge.governance.acknowledgements import Acknowledgement, Acknowledgements, HeldMessages
from bridge.governance.policy import Finding, Policy
from bridge.governance.registry import AuthorizedUser, UserRegistry
from bridge.governance.report import (
    POLICY_ACKNOWLEDGEMENT,
    POLICY_BLOCK,
    POLICY_HELD,
    POLICY_REFUSAL,
)
from bridge.ids import event_key
from bridge.record import Flag, Party, Record

log = logging.getLogger("wabridge.governance")

#: Seconds a registry read is reused before the store is asked again.
DEFAULT_REGISTRY_TTL = 3.0
DEFAULT_CONTACT = "your compliance team"


class GovernanceGate:
    """Decides about each outbound message of an employee; see the module docstring.

    ``held`` dicts given to :meth:`check_outbound` must be JSON-serializable (they are stored).
    ``conversation`` (the WhatsApp conversation id) and ``record_id`` (the employee's own
    archived message, linked through ``relates_to``) go into the policy records when present;
    ``activity_id`` (the Teams activity) becomes their ``source_id``. Either of the last two
    makes a redelivered activity neither held twice nor archived twice.
    """

    def __init__(
        self,
        archive: Archive,
        policy: Policy | None,
        *,
        registry_ttl: float = DEFAULT_REGISTRY_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.archive = archive
        self.policy = policy
        self.registry = UserRegistry(archive)
        self.acks = Acknowledgements(archive.store)
        self.held = HeldMessages(archive.store)
        self.registry_ttl = registry_ttl
        self._clock = clock
        self._users: dict[str, AuthorizedUser] | None = None
        self._users_read_at = 0.0
        self._acked: set[tuple[str, str]] = set()  # positive answers only: they never change

    # -- the port --------------------------------------------------------------------------
    async def check_outbound(
        self,
        employee: Employee,
        *,
        text: str,
        mime_types: Sequence[str],
        held: dict[str, Any],
    ) -> GateDecision:
        user = await self.authorized(employee.object_id)
        if user is None:
            return await self._refuse(employee, text, held)
        policy = self.policy
        if policy is None:
            return GateDecision("relay")
        if not await self._has_accepted(user.object_id, policy):
            return await self._hold(employee, user, policy, text, mime_types, held)
        return await self._lexicon(employee, user, policy, text, mime_types, held)

    async def accept_policy(self, employee: Employee, version: str) -> list[dict[str, Any]]:
        """Archive the acknowledgement and release the held messages (each exactly once).

        A released message that the lexicon flags comes back with ``"flags"`` (a list of
        ``{rule, action, reason}``) added; one that the current lexicon blocks is archived as a
        block and not returned.
        """
        policy = self.policy
        user = await self.authorized(employee.object_id, fresh=True)
        if user is None:
            log.warning(
                "policy acceptance by an unregistered employee %s ignored", employee.object_id
            )
            return []
        if policy is not None:
            if version != policy.version:
                log.info(
                    "acceptance of superseded policy version %s by %s ignored (current %s)",
                    version,
                    user.upn,
                    policy.version,
                )
                return []
            await self._record_acknowledgement(employee, user, policy)
        released = []
        for message in await self.held.release(user.object_id):
            item = dict(message.held)
            if policy is not None:
                findings = policy.findings(
                    str(item.get("text") or ""),
                    "outbound",
                    item.get("mime_types") or (),
                )
                blocking = [f for f in findings if f.action == "block"]
                if blocking:
                    await self._archive_block(
                        employee, user, blocking, findings, str(item.get("text") or ""), item
                    )
                    continue
                if findings:
                    item["flags"] = [f.flag().to_dict() for f in findings]
            released.append(item)
        return released

    async def refusal(self, employee: Employee, *, text: str, held: dict[str, Any]) -> str | None:
        """Why ``employee`` may not use the relay at all (a registry miss, archived as a
        refusal); None if they may. Asked before anything (a new thread) is opened for them."""
        if await self.authorized(employee.object_id) is not None:
            return None
        decision = await self._refuse(employee, text, held)
        return decision.message

    def inbound_flags(self, text: str) -> tuple[Flag, ...]:
        if self.policy is None:
            return ()
        return tuple(f.flag() for f in self.policy.findings(text or "", "inbound"))

    # -- registry --------------------------------------------------------------------------
    async def authorized(self, object_id: str, *, fresh: bool = False) -> AuthorizedUser | None:
        """The registry entry of ``object_id`` (a cached read at most ``registry_ttl`` old)."""
        now = self._clock()
        if fresh or self._users is None or now - self._users_read_at >= self.registry_ttl:
            self._users = await self.registry.users()
            self._users_read_at = now
        return self._users.get((object_id or "").strip().lower())

    async def _has_accepted(self, object_id: str, policy: Policy) -> bool:
        key = (object_id, policy.version)
        if key in self._acked:
            return True
        if await self.acks.get(object_id, policy.version) is not None:
            self._acked.add(key)
            return True
        return False

    # -- decisions -------------------------------------------------------------------------
    async def _refuse(self, employee: Employee, text: str, held: dict[str, Any]) -> GateDecision:
        contact = self.policy.contact if self.policy and self.policy.contact else DEFAULT_CONTACT
        message = (
            f"you are not registered to send WhatsApp messages from Teams. "
            f"Please ask {contact} to add you."
        )
        record = await self._archive(
            POLICY_REFUSAL,
            employee,
            None,
            held,
            text=text,
            summary=f"Refused: {employee.upn or employee.object_id} is not an authorized user",
            raw={"reason": "not in the authorized-user registry", "message_shown": message},
        )
        return GateDecision("refuse", message=message, records=(record,))

    async def _hold(self, employee, user, policy, text, mime_types, held) -> GateDecision:
        findings = policy.findings(text, "outbound", mime_types)
        blocking = [f for f in findings if f.action == "block"]
        card = card_attachment(policy_card(policy, held=not blocking))
        if blocking:
            # It could never be sent: say so at once rather than after the Accept.
            decision = await self._archive_block(employee, user, blocking, findings, text, held)
            return GateDecision(
                "acknowledge",
                card=card,
                message=(
                    f"Not sent: {decision.message} Please also read and accept the "
                    f"WhatsApp policy (version {policy.version})."
                ),
                flags=decision.flags,
                records=decision.records,
            )
        item = dict(held)
        item.setdefault("text", text)
        item.setdefault("mime_types", list(mime_types))
        entry = await self.held.hold(
            user.object_id, policy.version, item, dedupe_key=_hold_key(held)
        )
        record = await self._archive(
            POLICY_HELD,
            employee,
            user,
            held,
            text=text,
            summary=(f"Held until {user.upn} accepts WhatsApp policy version {policy.version}"),
            raw={"policy_version": policy.version, "held_id": entry.id if entry else None},
        )
        return GateDecision(
            "acknowledge",
            card=card,
            records=(record,),
            message=(
                "Please read and accept the WhatsApp policy (version "
                f"{policy.version}). Your message will be sent once you accept."
            ),
        )

    async def _lexicon(self, employee, user, policy, text, mime_types, held) -> GateDecision:
        findings = policy.findings(text, "outbound", mime_types)
        blocking = [f for f in findings if f.action == "block"]
        if blocking:
            return await self._archive_block(employee, user, blocking, findings, text, held)
        return GateDecision("relay", flags=tuple(f.flag() for f in findings))

    async def _archive_block(
        self, employee, user, blocking: list[Finding], findings: list[Finding], text: str, held
    ) -> GateDecision:
        reasons = "; ".join(f"rule '{f.rule}': {f.reason}" for f in blocking)
        message = f"this message breaks the WhatsApp policy ({reasons})."
        flags = tuple(f.flag() for f in findings)
        record = await self._archive(
            POLICY_BLOCK,
            employee,
            user,
            held,
            text=text,
            flags=flags,
            summary=f"Blocked an outbound message of {user.upn if user else employee.object_id}",
            raw={"rules": [f.rule for f in blocking], "message_shown": message},
        )
        return GateDecision("block", message=message, flags=flags, records=(record,))

    async def _record_acknowledgement(
        self, employee: Employee, user: AuthorizedUser, policy: Policy
    ) -> None:
        if await self._has_accepted(user.object_id, policy):
            return
        record = policy_record(
            POLICY_ACKNOWLEDGEMENT,
            _party(employee, user),
            text=f"{user.upn} accepted WhatsApp policy version {policy.version}",
            raw={
                "decision": "acknowledge",
                "object_id": user.object_id,
                "upn": user.upn,
                "policy_version": policy.version,
                "policy_text_sha256": policy.text_sha256,
                "policy_file": policy.source,
            },
        )
        stored = (
            await self.archive.put(
                record, event_key("policy-ack", user.object_id, policy.version, policy.text_sha256)
            )
        ).record
        await self.acks.put(
            user.object_id,
            Acknowledgement(
                version=policy.version,
                at=stored.sent_at,
                text_sha256=policy.text_sha256,
                record_id=stored.id,
            ),
        )
        self._acked.add((user.object_id, policy.version))

    async def _archive(
        self,
        decision: str,
        employee: Employee,
        user: AuthorizedUser | None,
        held: dict[str, Any],
        *,
        text: str,
        summary: str,
        raw: dict[str, Any],
        flags: tuple[Flag, ...] = (),
    ) -> Record:
        conversation = held.get("conversation")
        conversation = conversation if isinstance(conversation, str) else None
        related = held.get("record_id") if isinstance(held.get("record_id"), str) else None
        activity = _activity_id(held)
        record = policy_record(
            decision,
            _party(employee, user),
            text=text,
            conversation=conversation,
            source_id=activity,
            relates_to=related,
            flags=flags,
            raw={
                "decision": decision,
                "summary": summary,
                "object_id": employee.object_id,
                "upn": user.upn if user else employee.upn,
                "policy_version": self.policy.version if self.policy else None,
                **raw,
            },
        ).sealed()
        if activity or not related:
            key = dedupe_key_for(record, decision)
        else:  # the employee's archived message is one per activity: key the decision by it
            key = event_key("policy", decision, related)
        return (await self.archive.put(record, key)).record


def _activity_id(held: dict[str, Any]) -> str | None:
    value = held.get("activity_id")
    return value if isinstance(value, str) and value else None


def _hold_key(held: dict[str, Any]) -> str | None:
    """What makes a held message unique: its Teams activity, or the employee's record of it."""
    activity = _activity_id(held)
    if activity:
        return f"activity:{activity}"
    record_id = held.get("record_id")
    return f"record:{record_id}" if isinstance(record_id, str) and record_id else None


def _party(employee: Employee, user: AuthorizedUser | None) -> Party:
    return Party(
        id=(user.object_id if user else employee.object_id),
        platform="teams",
        name=(user.name if user and user.name else employee.name),
        upn=(user.upn if user else employee.upn),
    )
