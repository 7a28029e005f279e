"""POST/GET /api/whatsapp end to end: signatures, limits, archive before acknowledge."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.app import SERVICE
from bridge.record import canonical_json
from tests.fakes.meta_graph import encode_payload, sign_body, text_delivery
from tests.whatsapp.conftest import APP_SECRET, VERIFY_TOKEN
from tests.whatsapp.fixtures import PHONE_NUMBER_ID, first_message, load, media_bytes, names

MEDIA_FIXTURES = {
    "image": "image",
    "audio_voice": "audio",
    "video": "video",
    "document": "document",
    "sticker": "sticker",
}


def stock_media(fake) -> None:
    """Put the bytes the media fixtures announce behind their media ids in the fake."""
    for name, kind in MEDIA_FIXTURES.items():
        media = first_message(load(name))[kind]
        fake.add_media(media_bytes(kind), media["mime_type"], media_id=media["id"])


async def test_handshake(service) -> None:
    url = f"{service.url}/api/whatsapp"
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    async with service.session.get(url, params=good) as response:
        assert response.status == 200
        assert await response.text() == "1158201444"
    for bad in (
        {**good, "hub.verify_token": "wrong"},
        {**good, "hub.mode": "unsubscribe"},
        {"hub.challenge": "1"},
    ):
        async with service.session.get(url, params=bad) as response:
            assert response.status == 403
            assert "1158201444" not in await response.text()


async def test_every_fixture_is_archived_verbatim(service) -> None:
    stock_media(service.fake)
    for name in names():
        status, _ = await service.deliver(load(name))
        assert status == 200, name
    records = await service.records()
    sources = {r["source_id"] for r in records}
    for name in names():
        if name not in ("errors", "unknown_field", "multi"):
            assert first_message(load(name))["id"] in sources, name
    # statuses of one message are three records, all linked to it
    statuses = [r for r in records if r["kind"] == "status"]
    assert {s["status"] for s in statuses} >= {"sent", "delivered", "read", "failed"}
    raws = [canonical_json(r["raw"]) for r in records]
    for name in names():
        if name in ("unknown_field", "multi"):
            continue
        assert canonical_json(first_message(load(name))) in raws, name
    # every media fixture's bytes are in the archive, under the hash the webhook gave
    for name, kind in MEDIA_FIXTURES.items():
        [rec] = [r for r in records if r["source_id"] == first_message(load(name))["id"]]
        [att] = rec["attachments"]
        assert await service.archive.store.read(att["blob"]) == media_bytes(kind)


async def test_multi_delivery_gives_one_record_per_event(service) -> None:
    status, _ = await service.deliver(load("multi"))
    assert status == 200
    records = await service.records()
    assert len(records) == 4
    assert len({r["conversation"] for r in records}) == 3


@pytest.mark.parametrize("case", ["missing", "forged", "altered-body", "other-secret", "no-prefix"])
async def test_bad_signatures_are_refused_and_leave_nothing(service, case) -> None:
    payload = load("text")
    body = encode_payload(payload)
    kwargs = {
        "missing": {"app_secret": None},
        "forged": {"signature": "sha256=" + "0" * 64},
        "altered-body": {
            "body": body.replace(b"bond", b"BOND"),
            "signature": sign_body(body, APP_SECRET),
        },
        "other-secret": {"app_secret": "not-the-secret"},
        "no-prefix": {"signature": sign_body(body, APP_SECRET)[len("sha256=") :]},
    }[case]
    status, _ = await service.deliver(payload, **kwargs)
    assert status == (401 if case == "missing" else 403)
    assert await service.records() == []


@pytest.mark.parametrize("body", [b"{not json", b"NaN", b'{"entry": [-Infinity]}', b'{"a": 1e999}'])
async def test_not_json_is_400_and_nothing_archived(service, body) -> None:
    status, _ = await service.deliver(None, body=body)
    assert status == 400
    assert await service.records() == []


@pytest.mark.parametrize("depth", [65, 3000])
async def test_deeply_nested_json_is_400_and_nothing_archived(service, depth) -> None:
    body = b'{"entry":' + b"[" * depth + b"]" * depth + b"}"
    status, text = await service.deliver(None, body=body)
    assert (status, "nested" in text) == (400, True)
    assert await service.records() == []


async def test_body_size_limit_is_3_mib(service) -> None:
    limit = 3 * 1024 * 1024
    payload = text_delivery(PHONE_NUMBER_ID, "15555550123", "")
    base = len(encode_payload(payload))
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "x" * (limit - base)
    body = encode_payload(payload)
    assert len(body) == limit
    status, _ = await service.deliver(None, body=body)
    assert status == 200
    status, _ = await service.deliver(None, body=body + b" ")
    assert status == 413
    assert len(await service.records()) == 1


async def test_redeliveries_leave_exactly_one_record(service) -> None:
    payload = load("multi")
    results = await asyncio.gather(*(service.deliver(payload) for _ in range(4)))
    assert [status for status, _ in results] == [200] * 4
    status, _ = await service.deliver(payload)
    assert status == 200
    records = await service.records()
    assert len(records) == 4
    assert len({r["id"] for r in records}) == 4


async def test_listeners_get_the_stored_records_and_cannot_fail_the_delivery(service) -> None:
    seen: list[list] = []

    async def listener(records) -> None:
        seen.append(list(records))

    async def broken(records) -> None:
        raise RuntimeError("listener bug")

    service.app[SERVICE].ingest.listeners.extend([broken, listener])
    payload = load("text")
    assert (await service.deliver(payload))[0] == 200
    assert (await service.deliver(payload))[0] == 200
    first, again = seen
    assert [r.source_id for r in first] == [first_message(payload)["id"]]
    # on a redelivery the listener sees the earlier, durable copy (same id)
    assert [r.id for r in again] == [r.id for r in first]
    [stored] = await service.records()
    assert stored["id"] == first[0].id


async def test_log_never_shows_the_body(service, caplog) -> None:
    payload = text_delivery(PHONE_NUMBER_ID, "15555550123", "secret-deal-terms")
    with caplog.at_level("DEBUG"):
        await service.deliver(payload, app_secret="wrong")
        await service.deliver(payload)
    assert "secret-deal-terms" not in caplog.text


async def test_media_record_is_complete_before_the_bytes(service) -> None:
    """Meta's download fails for ever: the record is written anyway, the media stays pending."""
    stock_media(service.fake)
    service.fake.fail("media_info", status=500)
    status, _ = await service.deliver(load("image"))
    assert status == 200
    [record] = await service.records()
    [att] = record["attachments"]
    assert att["sha256"] and att["blob"] and att["media_id"]
    names_ = [i.name async for i in service.archive.store.list("state/media-pending/")]
    assert names_ == [f"state/media-pending/{att['sha256']}.json"]
    doc = json.loads((await service.archive.store.get_doc(names_[0])).data)
    assert doc["media_id"] == att["media_id"] and doc["record_id"] == record["id"]
    assert "500" in doc["last_error"]


async def test_without_a_secret_only_dev_mode_accepts_unsigned(tmp_path, meta_graph, http) -> None:
    from dataclasses import replace

    from aiohttp import web

    from bot.app import create_app
    from bridge.store.local import LocalStore
    from tests.fakes.meta_graph import post_webhook
    from tests.whatsapp.conftest import service_settings

    for dev_mode, expected in ((False, 403), (True, 200)):
        settings = replace(service_settings(meta_graph), whatsapp_app_secret="", dev_mode=dev_mode)
        app = create_app(settings, store=LocalStore(tmp_path / f"archive-{dev_mode}"))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            status, _ = await post_webhook(
                http, f"http://127.0.0.1:{port}/api/whatsapp", load("text"), app_secret=None
            )
        finally:
            await runner.cleanup()
        assert status == expected
