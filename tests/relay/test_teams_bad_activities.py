"""``POST /api/messages``: an activity whose ids the Bot Connector SDK cannot use is refused with
a 400 that names the field, and one whose ``channelData`` has odd shapes is handled, never a
500. (The SDK copies the conversation id into the ``x-ms-conversation-id`` header of every
reply: a control character there made it fail with an exception.)"""

from __future__ import annotations

import pytest

from tests.fakes.bot_connector import post_activity
from tests.relay.support import ANN, CHANNEL


def _set(activity: dict, path: tuple[str, ...], value) -> dict:
    target = activity
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return activity


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("conversation", "id"), "\r"),
        (("conversation", "id"), f"{CHANNEL};messageid=1\r\nX-Injected: 1"),
        (("conversation", "id"), " leading-space"),
        (("conversation", "id"), 42),
        (("id",), "1\x00"),
        (("replyToId",), "a\nb"),
    ],
)
async def test_an_unusable_id_is_refused_with_400_and_nothing_is_done(world, path, value):
    service = await world.start_service()
    await world.register(service)
    before = await world.records(service)
    activity = ANN.channel_message(
        "setup", service_url=world.connector.url, channel_id=CHANNEL, mention_bot=True
    )
    resp = await post_activity(world.session, service.url, _set(activity, path, value))
    assert resp.status == 400
    assert ".".join(path) in (await resp.json())["error"]
    assert world.connector.posts == []
    assert await world.records(service) == before


async def test_a_conversation_that_is_not_an_object_is_refused_with_400(world):
    service = await world.start_service()
    activity = ANN.channel_message("setup", service_url=world.connector.url, channel_id=CHANNEL)
    activity["conversation"] = "19:inbox-channel@thread.tacv2"
    resp = await post_activity(world.session, service.url, activity)
    assert resp.status == 400
    assert await world.records(service) == []


@pytest.mark.parametrize(
    "channel_data",
    [
        {"team": True, "teamsChannelId": CHANNEL},
        {"channel": "general", "teamsChannelId": CHANNEL},
        {"tenant": True, "teamsChannelId": CHANNEL},
    ],
)
async def test_channel_data_of_odd_shapes_is_handled_not_a_500(world, channel_data):
    service = await world.start_service()
    await world.register(service)
    activity = ANN.channel_message(
        "hello", service_url=world.connector.url, channel_id=CHANNEL, mention_bot=True
    )
    activity["channelData"] = channel_data
    resp = await post_activity(world.session, service.url, activity)
    assert resp.status < 500, await resp.text()
