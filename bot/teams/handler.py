"""The Teams activity handler: inbox ``setup``, replies in contact threads, personal commands."""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Callable
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsActivityHandler, TeamsInfo
from botbuilder.schema import Activity, ChannelAccount

from bot.ports import Employee
from bot.relay.docs import INBOX, read_json, teams_thread_doc, thread_doc, write_json
from bot.relay.inbound import RetryLater
from bot.relay.outbound import OutboundRelay, Thread
from bot.relay.templates import Template, TemplateError, choose
from bot.teams import cards
from bot.teams.adapter import RAW_ACTIVITY, activity_tenant_id
from bot.teams.sender import release_connector
from bridge.archive import Archive
from bridge.convert.teams import employee_change_record, plain_text
from bridge.ids import event_key, make_conversation_id
from bridge.record import Party, Record, now_rfc3339

log = logging.getLogger("wabridge.teams")

_E164 = re.compile(r"^\+?[1-9]\d{6,14}$")


class WabridgeBot(TeamsActivityHandler):
    """Routes each Teams activity; all state is read from and written to the archive's store."""

    def __init__(
        self,
        archive: Archive,
        outbound: OutboundRelay,
        *,
        templates: Callable[[], dict[str, Template]],
        business_number_id: str,
        open_thread: Callable[..., Any],
        inbox_bound: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__()
        self._archive = archive
        self._outbound = outbound
        self._templates = templates
        self._business_number_id = business_number_id
        self._open_thread = open_thread
        self._inbox_bound = inbox_bound

    async def on_turn(self, turn_context: TurnContext) -> None:
        try:
            await super().on_turn(turn_context)
        finally:
            await release_connector(turn_context)

    # -- messages -------------------------------------------------------------------------------
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = activity_dict(turn_context)
        value = activity.get("value")
        if isinstance(value, dict) and value.get("wabridge") == "accept_policy":
            employee = await self._employee(turn_context)
            sent = await self._outbound.accept_policy(employee, str(value.get("version") or ""))
            note = f"Thank you. {sent} held message(s) sent." if sent else "Thank you."
            await turn_context.send_activity(Activity(type="message", text=note))
            return
        conversation_type = (activity.get("conversation") or {}).get("conversationType")
        text = plain_text(activity)
        if conversation_type == "channel":
            await self._channel_message(turn_context, activity, text)
        elif conversation_type == "personal" or conversation_type is None:
            await self._personal_message(turn_context, activity, text)

    async def _channel_message(
        self, turn_context: TurnContext, activity: dict[str, Any], text: str
    ) -> None:
        conversation_id = activity["conversation"]["id"]
        mapped = await read_json(self._archive.store, teams_thread_doc(conversation_id))
        if mapped is not None:
            thread_doc_value = await read_json(
                self._archive.store, thread_doc(mapped["conversation"])
            )
            if thread_doc_value is None:
                return
            thread = Thread(
                mapped["conversation"],
                thread_doc_value["wa_id"],
                thread_doc_value["thread_id"],
                thread_doc_value,
            )
            employee = await self._employee(turn_context)
            template = None
            if text.lower().startswith("template ") or text.lower() == "template":
                try:
                    words = shlex.split(text)[1:]
                    if not words:
                        raise TemplateError("Usage: template NAME param…")
                    template = (choose(self._templates(), words[0], words[1:]), words[1:])
                except (TemplateError, ValueError) as exc:
                    await turn_context.send_activity(Activity(type="message", text=f"⚠ {exc}"))
                    return
            await self._outbound.reply(activity, thread, employee, text=text, template=template)
            return
        if text.strip().lower() == "setup":
            await self._setup(turn_context, activity)

    async def _setup(self, turn_context: TurnContext, activity: dict[str, Any]) -> None:
        channel_data = activity.get("channelData") or {}
        channel_id = (channel_data.get("channel") or {}).get("id") or channel_data.get(
            "teamsChannelId"
        )
        if not channel_id:
            channel_id = activity["conversation"]["id"].split(";")[0]
        binding = {
            "channel_id": channel_id,
            "team_id": (channel_data.get("team") or {}).get("id")
            or channel_data.get("teamsTeamId"),
            "tenant_id": activity_tenant_id(activity),
            "service_url": activity.get("serviceUrl"),
            "bot_id": (activity.get("recipient") or {}).get("id"),
            "bot_name": (activity.get("recipient") or {}).get("name"),
            "bound_by": (activity.get("from") or {}).get("aadObjectId"),
            "bound_at": now_rfc3339(),
        }
        employee = await self._employee(turn_context)
        record = Record(
            conversation=None,
            platform="teams",
            direction="internal",
            kind="system",
            type="inbox_bound",
            source_id=activity.get("id"),
            sent_at=now_rfc3339(),
            captured_at="",
            sender=Party(employee.object_id, employee.name, "teams", employee.upn),
            text=f"WhatsApp inbox bound to channel {channel_id}",
            raw=activity,
        )
        await self._archive.put(record, event_key("teams", "setup", activity.get("id")))
        await write_json(self._archive.store, INBOX, binding)
        self._inbox_bound()
        await turn_context.send_activity(
            Activity(
                type="message",
                text="✅ This channel is now the WhatsApp inbox. Each WhatsApp contact gets its "
                "own "
                "thread here; reply in a thread to answer that contact.",
            )
        )

    async def _personal_message(
        self, turn_context: TurnContext, activity: dict[str, Any], text: str
    ) -> None:
        words = text.split()
        if words and words[0].lower() == "new":
            await self._new_contact(turn_context, activity, text)
            return
        await turn_context.send_activity(Activity().deserialize(cards.help_text()))

    async def _new_contact(
        self, turn_context: TurnContext, activity: dict[str, Any], text: str
    ) -> None:
        try:
            words = shlex.split(text)
        except ValueError as exc:
            await turn_context.send_activity(Activity(type="message", text=f"⚠ {exc}"))
            return
        if len(words) < 3 or not _E164.match(words[1]):
            await turn_context.send_activity(
                Activity(
                    type="message",
                    text="Usage: new +E164 TEMPLATE [params] — e.g. "
                    "`new +4915112345678 follow_up Ann`",
                )
            )
            return
        number = words[1].lstrip("+")
        try:
            template = choose(self._templates(), words[2], words[3:])
        except TemplateError as exc:
            await turn_context.send_activity(Activity(type="message", text=f"⚠ {exc}"))
            return
        binding = await read_json(self._archive.store, INBOX)
        if binding is None:
            await turn_context.send_activity(
                Activity(
                    type="message",
                    text="⚠ No WhatsApp inbox is set up yet: send `setup` in the "
                    "channel that should be the inbox.",
                )
            )
            return
        conversation = make_conversation_id(self._business_number_id or "business", number)
        employee = await self._employee(turn_context)
        refusal = await self._outbound.refusal(
            employee,
            text=template.render(words[3:]),
            conversation=conversation,
            activity_id=activity.get("id"),
        )
        if refusal:
            await turn_context.send_activity(
                Activity(type="message", text=f"⚠ Not sent: {refusal}")
            )
            return
        try:
            thread = await self._open_thread(
                conversation,
                number,
                binding,
                started_by=activity.get("from", {}).get("name"),
                template=template,
                params=words[3:],
            )
        except RetryLater:
            await turn_context.send_activity(
                Activity(
                    type="message",
                    text=f"The thread of +{number} is being opened right now; "
                    "please send your command again in a moment.",
                )
            )
            return
        await self._outbound.reply(
            activity,
            thread,
            employee,
            text=template.render(words[3:]),
            template=(template, words[3:]),
        )
        await turn_context.send_activity(
            Activity(
                type="message",
                text=f"Started a conversation with +{number}; it continues in its "
                "thread in the WhatsApp inbox.",
            )
        )

    # -- edits and deletions --------------------------------------------------------------------
    async def on_teams_message_edit(self, turn_context: TurnContext) -> None:
        await self._change(turn_context)

    async def on_teams_message_soft_delete(self, turn_context: TurnContext) -> None:
        await self._change(turn_context)

    async def _change(self, turn_context: TurnContext) -> None:
        activity = activity_dict(turn_context)
        mapped = await read_json(
            self._archive.store,
            teams_thread_doc((activity.get("conversation") or {}).get("id", "")),
        )
        if mapped is None:
            return
        thread = await read_json(self._archive.store, thread_doc(mapped["conversation"]))
        employee = await self._employee(turn_context)
        record = employee_change_record(
            activity,
            conversation=mapped["conversation"],
            contact=Party((thread or {}).get("wa_id") or "unknown", None, "whatsapp"),
            upn=employee.upn,
        )
        await self._archive.put(
            record, event_key("teams", record.kind, activity.get("id"), activity.get("timestamp"))
        )

    # -- installation ---------------------------------------------------------------------------
    async def on_teams_members_added(
        self, teams_members_added: list[ChannelAccount], team_info, turn_context: TurnContext
    ) -> None:
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if not any(m.id == bot_id for m in teams_members_added):
            return
        if await read_json(self._archive.store, INBOX) is not None:
            return
        await turn_context.send_activity(
            Activity(
                type="message",
                text="Hello! No WhatsApp inbox is set up yet. A team owner can send `setup` in the "
                "channel that should receive WhatsApp conversations.",
            )
        )

    # -- who is writing -------------------------------------------------------------------------
    async def _employee(self, turn_context: TurnContext) -> Employee:
        sender = turn_context.activity.from_property
        object_id = getattr(sender, "aad_object_id", None) or sender.id
        upn = None
        try:
            member = await TeamsInfo.get_member(turn_context, sender.id)
            upn = member.user_principal_name or member.email
        except Exception as exc:  # the directory lookup is best effort; the object id is enough
            log.info("no UPN for %s: %s", object_id, exc)
        tenant = (
            turn_context.activity.conversation.tenant_id
            if turn_context.activity.conversation
            else None
        )
        return Employee(object_id=object_id, name=sender.name, upn=upn, tenant_id=tenant)


def activity_dict(turn_context: TurnContext) -> dict[str, Any]:
    """The turn's activity as JSON: the received payload verbatim when this is that activity."""
    raw = RAW_ACTIVITY.get()
    activity = turn_context.activity
    if raw is not None and raw.get("id") == activity.id and raw.get("type") == activity.type:
        return raw
    out = activity.serialize()
    out["entities"] = [
        {"type": e.type, **(e.additional_properties or {})} for e in activity.entities or ()
    ]
    return out
