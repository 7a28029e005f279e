"""Bot Framework JWTs checked against signing keys made here and published on loopback.

With ``MicrosoftAppId`` set, only a token signed by the published keys, issued by the Bot
Framework, for this bot's app id, not expired, gets an activity in; everything else is a 401
that leaves nothing behind.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.bot_identity import BotIdentityFake
from tests.relay.support import ANN, CHANNEL

APP_ID = "6a0f4f0e-3c1d-4d7e-9a55-0c2f3b4a5d6e"
OTHER_TENANT = "99999999-8888-4777-8666-555555555555"


@pytest.fixture
def identity():
    fake = BotIdentityFake().start()
    yield fake
    fake.stop()


@pytest.fixture
async def secured(world, identity):
    service = await world.start_service(
        WABRIDGE_DEV_MODE="0",
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword="test-password-not-a-secret",
        WABRIDGE_BOT_OPENID_METADATA_URL=identity.metadata_url,
    )
    return world, service


def _setup_activity(world):
    return ANN.channel_message("setup", service_url=world.connector.url, channel_id=CHANNEL)


@pytest.mark.parametrize(
    "variant",
    [
        "expired",
        "wrong_audience",
        "wrong_issuer",
        "foreign_key",
        "unknown_kid",
        "other_service_url",
    ],
)
async def test_bad_channel_tokens_are_refused_and_leave_nothing(secured, identity, variant):
    world, service = secured
    activity = _setup_activity(world)
    kwargs = {"audience": APP_ID, "service_url": world.connector.url}
    if variant == "expired":
        kwargs["expires_in"] = -3600
    elif variant == "wrong_audience":
        kwargs["audience"] = "00000000-0000-4000-8000-000000000000"
    elif variant == "wrong_issuer":
        kwargs["issuer"] = "https://sts.windows.net/attacker/"
    elif variant == "foreign_key":
        kwargs["key"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif variant == "unknown_kid":
        kwargs["kid"] = "not-published"
    elif variant == "other_service_url":
        kwargs["service_url"] = "https://smba.trafficmanager.net/attacker/"
    token = identity.channel_token(**kwargs)
    assert await world.teams(service, activity, token=token) == 401
    assert world.connector.posts == []
    assert await world.records(service) == []


async def test_a_valid_channel_token_is_let_in(secured, identity):
    world, service = secured
    token = identity.channel_token(audience=APP_ID, service_url=world.connector.url)
    status = await world.teams(service, _setup_activity(world), token=token)
    assert status != 401
    assert identity.metadata_requests >= 1

    # The token was accepted: the activity was acted on (the inbox binding is archived).
    assert [r.type for r in await world.records(service)] == ["inbox_bound"]


TENANT = "72f988bf-0000-4000-8000-00000000c0de"


async def test_a_user_of_another_tenant_is_refused_and_the_attempt_archived(world, identity):
    service = await world.start_service(
        WABRIDGE_DEV_MODE="0",
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword="test-password",
        MicrosoftAppType="SingleTenant",
        MicrosoftAppTenantId=TENANT,
        WABRIDGE_BOT_OPENID_METADATA_URL=identity.metadata_url,
    )
    activity = _setup_activity(world)
    activity.setdefault("channelData", {})["tenant"] = {"id": OTHER_TENANT}
    activity["conversation"]["tenantId"] = OTHER_TENANT
    token = identity.channel_token(audience=APP_ID, service_url=world.connector.url)
    assert await world.teams(service, activity, token=token) == 403
    records = await world.records(service)
    assert [(r.kind, r.type) for r in records] == [("policy", "foreign_tenant")]
    assert OTHER_TENANT in records[0].text
    assert world.connector.posts == []
