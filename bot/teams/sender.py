"""Proactive posts into the inbox channel through the Bot Connector (``TeamsSender``)."""

from __future__ import annotations

import contextlib
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)

TEAMS_CHANNEL = "msteams"


async def release_connector(context: TurnContext) -> None:
    """Close the turn's Bot Connector client (the SDK opens an HTTP session per turn and
    leaves it open)."""
    client = context.turn_state.get(context.adapter.BOT_CONNECTOR_CLIENT_KEY)
    if client is not None:
        with contextlib.suppress(Exception):
            await client.__aexit__(None, None, None)


class BotConnectorSender:
    """Posts as the bot into Teams, at the service URL stored with the inbox binding."""

    def __init__(
        self,
        adapter: CloudAdapter,
        *,
        app_id: str,
        service_url: str,
        tenant_id: str | None = None,
        bot_id: str | None = None,
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._service_url = service_url
        self._tenant_id = tenant_id
        self._bot_id = bot_id or app_id

    async def post_new_thread(self, channel_id: str, activity: dict[str, Any]) -> tuple[str, str]:
        """Start a thread in ``channel_id``; returns ``(thread conversation id, root id)``."""
        params = ConversationParameters(
            is_group=True,
            bot=ChannelAccount(id=self._bot_id),
            channel_data={
                "channel": {"id": channel_id},
                **({"tenant": {"id": self._tenant_id}} if self._tenant_id else {}),
            },
            activity=Activity().deserialize(activity),
            tenant_id=self._tenant_id,
        )
        created: dict[str, str] = {}

        async def created_callback(context: TurnContext) -> None:
            created["conversation"] = context.activity.conversation.id
            created["activity"] = context.activity.id
            await release_connector(context)

        await self._adapter.create_conversation(
            self._app_id,
            created_callback,
            params,
            channel_id=TEAMS_CHANNEL,
            service_url=self._service_url,
        )
        conversation = created["conversation"]
        root = created["activity"]
        if ";messageid=" not in conversation:
            conversation = f"{conversation};messageid={root}"
        return conversation, root

    async def post_reply(self, thread_conversation_id: str, activity: dict[str, Any]) -> str:
        """Reply into a thread; returns the new activity id."""
        sent: dict[str, str] = {}

        async def reply(context: TurnContext) -> None:
            try:
                response = await context.send_activity(Activity().deserialize(activity))
                sent["id"] = response.id if response else ""
            finally:
                await release_connector(context)

        await self._adapter.continue_conversation(
            self._reference(thread_conversation_id), reply, self._app_id
        )
        return sent["id"]

    async def update(
        self, thread_conversation_id: str, activity_id: str, activity: dict[str, Any]
    ) -> None:
        """Replace an earlier post of the bot (e.g. a status line)."""

        async def update(context: TurnContext) -> None:
            replacement = Activity().deserialize(activity)
            replacement.id = activity_id
            replacement.conversation = context.activity.conversation
            try:
                await context.update_activity(replacement)
            finally:
                await release_connector(context)

        await self._adapter.continue_conversation(
            self._reference(thread_conversation_id), update, self._app_id
        )

    def _reference(self, conversation_id: str) -> ConversationReference:
        return ConversationReference(
            channel_id=TEAMS_CHANNEL,
            service_url=self._service_url,
            bot=ChannelAccount(id=self._bot_id),
            conversation=ConversationAccount(
                id=conversation_id,
                is_group=True,
                conversation_type="channel",
                tenant_id=self._tenant_id,
            ),
        )
