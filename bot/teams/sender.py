"""Proactive posts into the inbox channel through the Bot Connector (the ``TeamsPoster`` port).

Posts go straight through the Bot Connector's REST API (``create_conversation``,
``send_to_conversation``, ``update_activity``) with one connector client per service URL, made
once by the adapter's own connector factory (so with the bot's credentials and token cache)
and kept: building one costs milliseconds of CPU, which every post would otherwise pay twice
(the SDK's proactive turn builds a connector client and a user-token client per call).

Failures are translated here: a Bot Connector that cannot be reached, times out or answers
5xx, 408 or 429 is :class:`bot.ports.TeamsUnavailable` (the relay retries without limit);
any other answer is a refusal of that post.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
import requests
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
)
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import AuthenticationConstants
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot.ports import TeamsEndpoint, TeamsUnavailable

TEAMS_CHANNEL = "msteams"
T = TypeVar("T")


async def release_connector(context: TurnContext) -> None:
    """Close the turn's Bot Connector client (the SDK opens an HTTP session per turn and
    leaves it open)."""
    client = context.turn_state.get(context.adapter.BOT_CONNECTOR_CLIENT_KEY)
    if client is not None:
        with contextlib.suppress(Exception):
            await client.__aexit__(None, None, None)


def unavailable(exc: BaseException) -> bool:
    """Whether a Bot Connector failure means "not now" rather than "no"."""
    if isinstance(
        exc,
        aiohttp.ClientError
        | TimeoutError
        | ClientRequestError
        | ConnectionError
        | requests.RequestException,
    ):
        return True
    if isinstance(exc, HttpOperationError):
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        return status is None or status >= 500 or status in (408, 429)
    return False


class BotConnectorPoster:
    """Posts as the bot into Teams, at the service URL of each endpoint."""

    def __init__(self, adapter: CloudAdapter, *, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._clients: dict[str, ConnectorClient] = {}
        self._lock = asyncio.Lock()

    async def post_new_thread(
        self, endpoint: TeamsEndpoint, channel_id: str, activity: dict[str, Any]
    ) -> tuple[str, str]:
        """Start a thread in ``channel_id``; returns ``(thread conversation id, root id)``."""
        params = ConversationParameters(
            is_group=True,
            bot=ChannelAccount(id=endpoint.bot_id or self._app_id),
            channel_data={
                "channel": {"id": channel_id},
                **({"tenant": {"id": endpoint.tenant_id}} if endpoint.tenant_id else {}),
            },
            activity=Activity().deserialize(activity),
            tenant_id=endpoint.tenant_id,
        )
        client = await self._client(endpoint.service_url)
        created = await _translated(client.conversations.create_conversation(params))
        conversation, root = created.id, created.activity_id
        if ";messageid=" not in conversation:
            conversation = f"{conversation};messageid={root}"
        return conversation, root

    async def post_reply(
        self, endpoint: TeamsEndpoint, thread_id: str, activity: dict[str, Any]
    ) -> str:
        """Reply into a thread; returns the new activity id."""
        client = await self._client(endpoint.service_url)
        outgoing = self._addressed(endpoint, thread_id, activity)
        response = await _translated(client.conversations.send_to_conversation(thread_id, outgoing))
        return response.id if response else ""

    async def update(
        self, endpoint: TeamsEndpoint, thread_id: str, activity_id: str, activity: dict[str, Any]
    ) -> None:
        """Replace an earlier post of the bot (e.g. a status line)."""
        client = await self._client(endpoint.service_url)
        replacement = self._addressed(endpoint, thread_id, activity)
        replacement.id = activity_id
        await _translated(client.conversations.update_activity(thread_id, activity_id, replacement))

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)

    def _addressed(
        self, endpoint: TeamsEndpoint, thread_id: str, activity: dict[str, Any]
    ) -> Activity:
        outgoing = Activity().deserialize(activity)
        outgoing.channel_id = TEAMS_CHANNEL
        outgoing.service_url = endpoint.service_url
        outgoing.conversation = ConversationAccount(
            id=thread_id,
            is_group=True,
            conversation_type="channel",
            tenant_id=endpoint.tenant_id,
        )
        outgoing.from_property = ChannelAccount(id=endpoint.bot_id or self._app_id)
        if outgoing.type == "message" and not outgoing.input_hint:
            outgoing.input_hint = "acceptingInput"
        return outgoing

    async def _client(self, service_url: str) -> ConnectorClient:
        client = self._clients.get(service_url)
        if client is not None:
            return client
        async with self._lock:
            client = self._clients.get(service_url)
            if client is None:
                claims = self._adapter.create_claims_identity(self._app_id)
                claims.claims[AuthenticationConstants.SERVICE_URL_CLAIM] = service_url
                factory = self._adapter.bot_framework_authentication.create_connector_factory(
                    claims
                )
                client = await _translated(factory.create(service_url, None))
                self._clients[service_url] = client
        return client


async def _translated(call: Awaitable[T]) -> T:
    try:
        return await call
    except Exception as exc:
        if unavailable(exc):
            raise TeamsUnavailable(f"the Bot Connector is unavailable: {_describe(exc)}") from exc
        raise


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
