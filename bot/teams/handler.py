"""The Teams activity handler: each activity parsed and handed to the core's ``TeamsActions``.

Nothing is decided here: the handler reads what Teams sent (the activity verbatim, the text
without the bot's mention, where it was sent, who sent it), calls the core, and sends the
core's answers back into the conversation the activity came from.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsActivityHandler, TeamsInfo
from botbuilder.schema import Activity, ChannelAccount

from bot.cards.policy import ACCEPT_ACTION
from bot.ports import Employee, TeamsActions, TeamsEndpoint, TeamsMessage
from bot.teams.adapter import RAW_ACTIVITY, activity_tenant_id
from bot.teams.sender import release_connector
from bridge.convert.teams import plain_text

log = logging.getLogger("wabridge.teams")


class WabridgeBot(TeamsActivityHandler):
    """Routes each Teams activity to the core."""

    def __init__(self, actions: TeamsActions) -> None:
        super().__init__()
        self._actions = actions

    async def on_turn(self, turn_context: TurnContext) -> None:
        try:
            await super().on_turn(turn_context)
        finally:
            await release_connector(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = activity_dict(turn_context)
        value = activity.get("value")
        if isinstance(value, dict) and value.get("wabridge") == ACCEPT_ACTION:
            employee = await _employee(turn_context)
            version = str(value.get("version") or "")
            await _answer(turn_context, await self._actions.accept_policy(employee, version))
            return
        conversation = _fields(activity.get("conversation"))
        conversation_type = conversation.get("conversationType")
        channel_data = _fields(activity.get("channelData"))
        recipient = _fields(activity.get("recipient"))
        message = TeamsMessage(
            activity=activity,
            text=plain_text(activity),
            conversation_id=_text(conversation.get("id")) or "",
            employee=lambda: _employee(turn_context),
            channel_id=_text(_fields(channel_data.get("channel")).get("id"))
            or _text(channel_data.get("teamsChannelId")),
            team_id=_text(_fields(channel_data.get("team")).get("id"))
            or _text(channel_data.get("teamsTeamId")),
            endpoint=TeamsEndpoint(
                _text(activity.get("serviceUrl")) or "",
                activity_tenant_id(activity),
                _text(recipient.get("id")),
            ),
            bot_name=_text(recipient.get("name")),
        )
        if conversation_type == "channel":
            await _answer(turn_context, await self._actions.channel_message(message))
        elif conversation_type == "personal" or conversation_type is None:
            await _answer(turn_context, await self._actions.personal_message(message))

    async def on_teams_message_edit(self, turn_context: TurnContext) -> None:
        await self._changed(turn_context)

    async def on_teams_message_soft_delete(self, turn_context: TurnContext) -> None:
        await self._changed(turn_context)

    async def _changed(self, turn_context: TurnContext) -> None:
        await self._actions.message_changed(
            activity_dict(turn_context), lambda: _employee(turn_context)
        )

    async def on_teams_members_added(
        self, teams_members_added: list[ChannelAccount], team_info, turn_context: TurnContext
    ) -> None:
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(m.id == bot_id for m in teams_members_added):
            await _answer(turn_context, await self._actions.bot_installed())


def _fields(value: Any) -> dict[str, Any]:
    """An object of the activity, or an empty one where the sender put anything else."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """A string field of the activity; anything else (a number, a list, true) is absent."""
    return value if isinstance(value, str) else None


async def _answer(turn_context: TurnContext, activities: list[dict[str, Any]]) -> None:
    for activity in activities:
        await turn_context.send_activity(Activity().deserialize(activity))


async def _employee(turn_context: TurnContext) -> Employee:
    """Who wrote: ``from.aadObjectId`` and name; the UPN from ``TeamsInfo.get_member``."""
    sender = turn_context.activity.from_property
    object_id = getattr(sender, "aad_object_id", None) or sender.id
    upn = None
    try:
        member = await TeamsInfo.get_member(turn_context, sender.id)
        upn = member.user_principal_name or member.email
    except Exception as exc:  # the directory lookup is best effort; the object id is enough
        log.info("no UPN for %s: %s", object_id, exc)
    conversation = turn_context.activity.conversation
    tenant = conversation.tenant_id if conversation else None
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
