"""The Bot Framework adapter built from our ``Settings`` and the ``POST /api/messages`` route."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import jwt
import requests
from aiohttp import web
from botbuilder.core import Bot
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, CallerIdConstants
from botframework.connector.auth import AuthenticationConstants

from bot.settings import Settings
from bridge.errors import ArchiveUnavailable

log = logging.getLogger("wabridge.teams")

#: Archives a refused activity of another tenant (``TeamsActions.foreign_tenant``).
ForeignTenant = Callable[[dict[str, Any], str | None], Awaitable[None]]

#: The activity exactly as received (the SDK's models drop fields such as mention entities).
RAW_ACTIVITY: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "wabridge_raw_activity", default=None
)


@dataclass(frozen=True)
class _SdkConfiguration:
    """The attribute names the Bot Framework SDK reads its identity from."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str
    # Set only with WABRIDGE_BOT_OPENID_METADATA_URL: the SDK's parameterized authentication,
    # with every value but the signing-key metadata left at the public cloud's.
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str | None = None
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str | None = None
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str | None = None
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str | None = None
    TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL: str | None = None
    OAUTH_URL: str | None = None
    CALLER_ID: str | None = None


def create_adapter(settings: Settings) -> CloudAdapter:
    """A ``CloudAdapter`` that validates Bot Framework JWTs whenever ``MicrosoftAppId`` is set.

    With no app id (possible only in dev mode, see ``Settings.from_env``) the SDK accepts
    anonymous activities and posts without a token.
    """
    config = _SdkConfiguration(
        APP_ID=settings.app_id,
        APP_PASSWORD=settings.app_password,
        APP_TYPE=settings.app_type,
        APP_TENANTID=settings.app_tenant_id,
    )
    if settings.bot_openid_metadata_url:
        log.warning(
            "trusting Bot Framework channel tokens signed by the keys published at %s "
            "(WABRIDGE_BOT_OPENID_METADATA_URL)",
            settings.bot_openid_metadata_url,
        )
        config = replace(
            config,
            TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=settings.bot_openid_metadata_url,
            TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
            TO_CHANNEL_FROM_BOT_LOGIN_URL=AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL,
            TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
            TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=(
                AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
            ),
            OAUTH_URL=AuthenticationConstants.OAUTH_URL,
            CALLER_ID=CallerIdConstants.public_azure_channel,
        )
    return CloudAdapter(ConfigurationBotFrameworkAuthentication(config))


def messages_route(
    adapter: CloudAdapter,
    bot: Bot,
    *,
    tenant_id: str = "",
    on_foreign_tenant: ForeignTenant | None = None,
):
    """The aiohttp handler of ``POST /api/messages``.

    Bad or missing tokens answer 401 (also a malformed bearer, whose PyJWT error the SDK lets
    escape); an activity of another tenant than ``tenant_id`` answers 403 once
    ``on_foreign_tenant`` has archived the attempt; an archive outage answers 503 so that the
    Bot Connector retries.
    """

    async def handle(request: web.Request) -> web.StreamResponse:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response({"error": "expected application/json"}, status=415)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body is not an activity"}, status=400)
        bad = malformed_id(body)
        if bad is not None:
            return web.json_response({"error": f"bad activity: {bad}"}, status=400)
        RAW_ACTIVITY.set(body)
        refusal = await _refuse_unauthenticated(
            adapter, body, request.headers.get("Authorization", "")
        )
        if refusal is not None:
            return refusal
        if tenant_id and activity_tenant_id(body) != tenant_id:
            return await _refuse_foreign_tenant(on_foreign_tenant, body)
        try:
            response = await adapter.process(request, bot)
        except web.HTTPException as exc:
            if exc.status == 401:
                return web.json_response({"error": "unauthorized"}, status=401)
            raise
        except (jwt.PyJWTError, PermissionError):
            return web.json_response({"error": "unauthorized"}, status=401)
        except requests.RequestException as exc:
            # The SDK fetches signing keys (and its own tokens) synchronously with requests.
            log.warning("Bot Framework identity service unreachable: %s", exc)
            return web.json_response({"error": "cannot validate the request now"}, status=503)
        except ArchiveUnavailable as exc:
            log.warning("Teams activity refused, archive unavailable: %s", exc)
            return web.json_response({"error": "archive unavailable"}, status=503)
        except ValueError as exc:
            return web.json_response({"error": f"bad activity: {exc}"}, status=400)
        if response is not None and response.status == 501 and body.get("type") == "invoke":
            # The SDK answers 501 to an invoke it has no handler for; that is the sender's
            # request we do not support, not a failure of ours.
            return web.json_response({"error": "unsupported invoke"}, status=400)
        return response or web.Response(status=201)

    return handle


async def _refuse_unauthenticated(
    adapter: CloudAdapter, body: dict[str, Any], auth_header: str
) -> web.Response | None:
    """Check the bearer token before anything else runs: any failure is a 401.

    The SDK reports bad tokens in many shapes (PyJWT errors, ``PermissionError``, a bare
    ``Exception``, an ``IndexError`` for a key id it does not know); checked here on its own,
    every one of them is a refusal, never a 500. Anonymous requests pass only where the SDK
    allows them (no ``MicrosoftAppId``, which only dev mode permits).
    """
    try:
        activity = Activity().deserialize(body)
        await adapter.bot_framework_authentication.authenticate_request(activity, auth_header)
    except requests.RequestException as exc:
        log.warning("Bot Framework identity service unreachable: %s", exc)
        return web.json_response({"error": "cannot validate the request now"}, status=503)
    except Exception as exc:  # noqa: BLE001 - every failure to authenticate is a refusal
        log.info("Teams activity refused: %s", type(exc).__name__)
        return web.json_response({"error": "unauthorized"}, status=401)
    return None


#: The ids of an activity that the SDK puts into the URLs and headers of its replies
#: (``x-ms-conversation-id`` carries the conversation's id as it is).
_ID_FIELDS = (("id",), ("replyToId",), ("conversation", "id"))


def malformed_id(activity: dict[str, Any]) -> str | None:
    """Why the activity's ids cannot be used, or None: each one present must be a string of
    printable characters without white space (as every id Teams sends is), and
    ``conversation`` an object."""
    if "conversation" in activity and not isinstance(activity["conversation"], dict):
        return "conversation is not an object"
    for path in _ID_FIELDS:
        value: Any = activity
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            continue
        if not isinstance(value, str) or any(c.isspace() or not c.isprintable() for c in value):
            return f"{'.'.join(path)} is not a usable id"
    return None


def activity_tenant_id(activity: dict[str, Any]) -> str | None:
    """The Entra tenant a raw Teams activity comes from (``channelData.tenant.id``, else
    ``conversation.tenantId``); None when it names none, or names it with anything but a
    string (such an activity matches no tenant)."""
    channel_data = activity.get("channelData")
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    tenant_id = tenant.get("id") if isinstance(tenant, dict) else None
    conversation = activity.get("conversation")
    if tenant_id in (None, ""):
        tenant_id = conversation.get("tenantId") if isinstance(conversation, dict) else None
    return tenant_id if isinstance(tenant_id, str) and tenant_id else None


async def _refuse_foreign_tenant(
    on_foreign_tenant: ForeignTenant | None, activity: dict[str, Any]
) -> web.Response:
    """An activity from a Teams user of another organisation: refused (403) and archived."""
    theirs = activity_tenant_id(activity)
    if on_foreign_tenant is not None:
        try:
            await on_foreign_tenant(activity, theirs)
        except ArchiveUnavailable:
            return web.json_response({"error": "archive unavailable"}, status=503)
    return web.json_response({"error": "this bot serves another organisation"}, status=403)
