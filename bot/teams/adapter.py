"""The Bot Framework adapter built from our ``Settings`` and the ``POST /api/messages`` route."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from aiohttp import web
from botbuilder.core import Bot
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)

from bot.settings import Settings
from bridge.errors import ArchiveUnavailable

log = logging.getLogger("wabridge.teams")

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
    return CloudAdapter(ConfigurationBotFrameworkAuthentication(config))


def messages_route(adapter: CloudAdapter, bot: Bot):
    """The aiohttp handler of ``POST /api/messages``.

    Bad or missing tokens answer 401 (also a malformed bearer, whose PyJWT error the SDK lets
    escape); an archive outage answers 503 so that the Bot Connector retries.
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
        RAW_ACTIVITY.set(body)
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
        return response or web.Response(status=201)

    return handle
