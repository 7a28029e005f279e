"""What employees do in Teams, as the core sees it (the :class:`bot.ports.TeamsActions` port).

The Teams handler verifies and parses each activity and calls one of these; each answers with
the activities to show the employee. ``setup`` in a channel binds it as the WhatsApp inbox (an
admin's act, archived as ``inbox_bound``); a reply in a contact's thread goes to that contact
(``template NAME param…`` sends an approved template); ``new +E164 TEMPLATE [params]`` in the
personal chat starts a conversation with a new contact; edits and deletions of an employee's
message are archived; Accept on the policy card sends what was held.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from bot.cards import posts as cards
from bot.ports import Employee, EmployeeLookup, TeamsMessage
from bot.relay.inbox import InboxCache
from bot.relay.outbound import OutboundRelay
from bot.relay.parked import RetryLater
from bot.relay.state import InboxBinding
from bot.relay.templates import Template, TemplateError, choose
from bot.relay.threads import ThreadMap
from bridge.archive import Archive
from bridge.convert.internal import foreign_tenant_record, inbox_bound_record
from bridge.convert.teams import employee_change_record
from bridge.ids import event_key, make_conversation_id
from bridge.record import Party, now_rfc3339

log = logging.getLogger("wabridge.teams")

_E164 = re.compile(r"^\+?[1-9]\d{6,14}$")
NO_INBOX = (
    "⚠ No WhatsApp inbox is set up yet: send `setup` in the channel that should be the inbox."
)


def say(text: str) -> dict[str, Any]:
    return {"type": "message", "text": text}


class EmployeeActions:
    """The core's side of the Teams handler (see the module docstring)."""

    def __init__(
        self,
        archive: Archive,
        outbound: OutboundRelay,
        threads: ThreadMap,
        inbox: InboxCache,
        *,
        templates: Callable[[], Mapping[str, Template]],
        business_number_id: str,
        tenant_id: str = "",
        inbox_bound: Callable[[], None] = lambda: None,
    ) -> None:
        self._archive = archive
        self._outbound = outbound
        self._threads = threads
        self._inbox = inbox
        self._templates = templates
        self._business_number_id = business_number_id
        self._tenant_id = tenant_id
        self._inbox_bound = inbox_bound

    # -- channels -------------------------------------------------------------------------------
    async def channel_message(self, message: TeamsMessage) -> list[dict[str, Any]]:
        thread = await self._threads.of_teams_thread(message.conversation_id)
        if thread is not None:
            return await self._thread_reply(message, thread)
        if message.text.strip().lower() == "setup":
            return await self._setup(message)
        return []

    async def _thread_reply(self, message: TeamsMessage, thread) -> list[dict[str, Any]]:
        employee = await message.employee()
        text = message.text
        template = None
        if text.lower().startswith("template ") or text.lower() == "template":
            try:
                words = shlex.split(text)[1:]
                if not words:
                    raise TemplateError("Usage: template NAME param…")
                template = (choose(self._templates(), words[0], words[1:]), words[1:])
            except (TemplateError, ValueError) as exc:
                return [say(f"⚠ {exc}")]
        await self._outbound.reply(message.activity, thread, employee, text=text, template=template)
        return []

    async def _setup(self, message: TeamsMessage) -> list[dict[str, Any]]:
        activity = message.activity
        channel_id = message.channel_id or message.conversation_id.split(";")[0]
        endpoint = message.endpoint
        binding = InboxBinding(
            channel_id=channel_id,
            service_url=endpoint.service_url if endpoint else "",
            team_id=message.team_id,
            tenant_id=endpoint.tenant_id if endpoint else None,
            bot_id=endpoint.bot_id if endpoint else None,
            bot_name=message.bot_name,
            bound_by=(activity.get("from") or {}).get("aadObjectId"),
            bound_at=now_rfc3339(),
        )
        employee = await message.employee()
        admin = Party(employee.object_id, employee.name, "teams", employee.upn)
        record = inbox_bound_record(activity, admin, channel_id)
        await self._archive.put(record, event_key("teams", "setup", activity.get("id")))
        await self._inbox.bind(binding)
        self._inbox_bound()
        return [
            say(
                "✅ This channel is now the WhatsApp inbox. Each WhatsApp contact gets its own "
                "thread here; reply in a thread to answer that contact."
            )
        ]

    # -- the personal chat ----------------------------------------------------------------------
    async def personal_message(self, message: TeamsMessage) -> list[dict[str, Any]]:
        words = message.text.split()
        if words and words[0].lower() == "new":
            return await self._new_contact(message)
        return [cards.help_text()]

    async def _new_contact(self, message: TeamsMessage) -> list[dict[str, Any]]:
        try:
            words = shlex.split(message.text)
        except ValueError as exc:
            return [say(f"⚠ {exc}")]
        if len(words) < 3 or not _E164.match(words[1]):
            return [
                say("Usage: new +E164 TEMPLATE [params] — e.g. `new +4915112345678 follow_up Ann`")
            ]
        number, params = words[1].lstrip("+"), words[3:]
        try:
            template = choose(self._templates(), words[2], params)
        except TemplateError as exc:
            return [say(f"⚠ {exc}")]
        binding = await self._inbox.get()
        if binding is None:
            return [say(NO_INBOX)]
        conversation = make_conversation_id(self._business_number_id or "business", number)
        employee = await message.employee()
        refusal = await self._outbound.gate.refusal(
            employee,
            text=template.render(params),
            held={"conversation": conversation, "activity_id": message.activity.get("id")},
        )
        if refusal:
            return [say(f"⚠ Not sent: {refusal}")]
        started_by = (message.activity.get("from") or {}).get("name") or "an employee"
        first_post = cards.message(
            f"**+{number}** — conversation started by {started_by} "
            f"with the template `{template.name}`: {template.render(params)}"
        )
        try:
            thread, _root = await self._threads.ensure(conversation, number, binding, first_post)
        except RetryLater:
            return [
                say(
                    f"The thread of +{number} is being opened right now; "
                    "please send your command again in a moment."
                )
            ]
        await self._outbound.reply(
            message.activity,
            thread,
            employee,
            text=template.render(params),
            template=(template, params),
        )
        return [
            say(
                f"Started a conversation with +{number}; it continues in its thread in the "
                "WhatsApp inbox."
            )
        ]

    # -- everything else ------------------------------------------------------------------------
    async def accept_policy(self, employee: Employee, version: str) -> list[dict[str, Any]]:
        sent = await self._outbound.accept_policy(employee, version)
        return [say(f"Thank you. {sent} held message(s) sent." if sent else "Thank you.")]

    async def message_changed(self, activity: dict[str, Any], employee: EmployeeLookup) -> None:
        thread = await self._threads.of_teams_thread(
            (activity.get("conversation") or {}).get("id", "")
        )
        if thread is None:
            return
        who = await employee()
        record = employee_change_record(
            activity,
            conversation=thread.conversation,
            contact=Party(thread.wa_id or "unknown", None, "whatsapp"),
            upn=who.upn,
        )
        await self._archive.put(
            record, event_key("teams", record.kind, activity.get("id"), activity.get("timestamp"))
        )

    async def bot_installed(self) -> list[dict[str, Any]]:
        if await self._inbox.get() is not None:
            return []
        return [
            say(
                "Hello! No WhatsApp inbox is set up yet. A team owner can send `setup` in the "
                "channel that should receive WhatsApp conversations."
            )
        ]

    async def foreign_tenant(self, activity: dict[str, Any], theirs: str | None) -> None:
        """Archive a refused activity of another tenant (raises ArchiveUnavailable: the
        refusal then answers 503, so that the Bot Connector tries again)."""
        record = foreign_tenant_record(activity, ours=self._tenant_id, theirs=theirs)
        who = record.sender.id if record.sender else "unknown"
        key = event_key("teams", "policy", "foreign_tenant", activity.get("id"), who)
        await self._archive.put(record, key)
        log.warning("refused a Teams activity from another tenant (%s)", theirs or "none given")
