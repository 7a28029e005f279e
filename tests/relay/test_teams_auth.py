"""``POST /api/messages`` validates Bot Framework tokens whenever ``MicrosoftAppId`` is set."""

from __future__ import annotations

import base64
import json

from tests.relay.support import ANN, CHANNEL


def _unsigned_jwt() -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    header = part({"alg": "RS256", "typ": "JWT", "kid": "not-a-microsoft-key"})
    claims = part(
        {
            "iss": "https://api.botframework.com",
            "aud": "11111111-2222-3333-4444-555555555555",
            "exp": 4102444800,
            "nbf": 0,
        }
    )
    return f"{header}.{claims}.{base64.urlsafe_b64encode(b'forged').decode().rstrip('=')}"


async def test_activities_without_a_valid_token_are_refused(world):
    service = await world.start_service(
        WABRIDGE_DEV_MODE="0",
        MicrosoftAppId="11111111-2222-3333-4444-555555555555",
        MicrosoftAppPassword="not-a-real-secret",
    )
    setup = ANN.channel_message("setup", service_url=world.connector.url, channel_id=CHANNEL)

    assert await world.teams(service, setup) == 401
    assert await world.teams(service, setup, token="not-a-jwt") == 401
    assert await world.teams(service, setup, token="a.b.c") == 401
    # A well-formed token not signed by Microsoft: refused (401), or 503 where Microsoft's
    # signing keys cannot be fetched (as offline here) -- never accepted, never a 500.
    assert await world.teams(service, setup, token=_unsigned_jwt()) in (401, 503)

    # Nothing was acted on: no inbox bound, nothing posted, nothing archived.
    assert world.connector.posts == []
    assert await world.records(service) == []
