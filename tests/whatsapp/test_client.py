"""The Cloud API client against the loopback Graph API fake, over real HTTP."""

from __future__ import annotations

import hashlib

import pytest

from bot.ports import WhatsAppSender, WhatsAppSendError
from bot.whatsapp.client import CloudApiClient
from tests.fakes.meta_graph import MetaGraphFake


@pytest.fixture
async def client(meta_graph: MetaGraphFake):
    api = CloudApiClient(
        graph_url=meta_graph.base_url,
        access_token=meta_graph.access_token,
        phone_number_id=meta_graph.phone_number_id,
    )
    yield api
    await api.close()


def test_client_is_a_whatsapp_sender() -> None:
    api: WhatsAppSender = CloudApiClient(
        graph_url="http://x", access_token="s3cr3t-token", phone_number_id="1"
    )
    for name in ("send_text", "send_media", "send_template", "mark_read"):
        assert callable(getattr(api, name))
    assert "s3cr3t" not in repr(api)


async def test_send_text_returns_the_new_wamid(client, meta_graph) -> None:
    result = await client.send_text("+1 555 0100", "hello", reply_to="wamid.ORIG")
    assert result.wamid.startswith("wamid.")
    assert result.to == "15550100"
    [sent] = meta_graph.sent
    assert sent["type"] == "text" and sent["text"]["body"] == "hello"
    assert sent["context"] == {"message_id": "wamid.ORIG"}
    assert meta_graph.requests[0].headers["Authorization"] == f"Bearer {meta_graph.access_token}"


async def test_send_media_uploads_then_sends_by_id(client, meta_graph) -> None:
    data = b"%PDF-1.4 report"
    await client.send_media(
        "15550100",
        media_type="document",
        data=data,
        mime_type="application/pdf",
        filename="report.pdf",
        caption="Q3",
    )
    [item] = meta_graph.media.values()
    assert item.data == data and item.mime_type == "application/pdf"
    [sent] = meta_graph.sent
    assert sent["document"] == {"id": item.media_id, "caption": "Q3", "filename": "report.pdf"}


async def test_send_template_and_mark_read(client, meta_graph) -> None:
    await client.send_template("15550100", "follow_up", language="en_GB", params=["Ana", "Friday"])
    [sent] = meta_graph.sent
    assert sent["template"]["name"] == "follow_up"
    assert sent["template"]["language"] == {"code": "en_GB"}
    assert [p["text"] for p in sent["template"]["components"][0]["parameters"]] == ["Ana", "Friday"]
    await client.mark_read("wamid.IN")
    assert meta_graph.read_marks == ["wamid.IN"]


async def test_meta_error_code_and_message_are_kept(client, meta_graph) -> None:
    meta_graph.fail_sends(131047, to="15550100", times=1)
    with pytest.raises(WhatsAppSendError) as info:
        await client.send_text("15550100", "late reply")
    assert info.value.code == 131047 and info.value.outside_window
    assert "24 hours" in info.value.message or "Re-engagement" in info.value.message
    assert info.value.http_status == 400
    # another recipient is unaffected, and the failure was for one call only
    await client.send_text("15550199", "fine")
    await client.send_text("15550100", "now fine")
    assert len(meta_graph.sent) == 2


async def test_rate_limit_is_recognised(client, meta_graph) -> None:
    meta_graph.fail_sends(130429, status=429)
    with pytest.raises(WhatsAppSendError) as info:
        await client.send_text("15550100", "x")
    assert info.value.rate_limited and info.value.http_status == 429


async def test_wrong_token_is_refused(meta_graph) -> None:
    async with CloudApiClient(
        graph_url=meta_graph.base_url,
        access_token="wrong",
        phone_number_id=meta_graph.phone_number_id,
    ) as api:
        with pytest.raises(WhatsAppSendError) as info:
            await api.send_text("15550100", "x")
    assert info.value.code == 190 and info.value.http_status == 401


async def test_unreachable_graph_api_is_a_send_error() -> None:
    from tests.support.azurite import free_port

    async with CloudApiClient(
        graph_url=f"http://127.0.0.1:{free_port()}/v23.0", access_token="t", phone_number_id="1"
    ) as api:
        with pytest.raises(WhatsAppSendError) as info:
            await api.send_text("15550100", "x")
    assert info.value.code is None


async def test_media_resolve_and_streamed_download(client, meta_graph) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB
    item = meta_graph.add_media(data, "video/mp4")
    info, chunks = await client.download_media(item.media_id)
    assert info.mime_type == "video/mp4" and info.file_size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    digest, count, biggest = hashlib.sha256(), 0, 0
    async for chunk in chunks:
        digest.update(chunk)
        count += 1
        biggest = max(biggest, len(chunk))
    assert digest.hexdigest() == item.sha256_hex
    assert count > 1 and biggest < len(data)


async def test_failed_download_raises_with_status(client, meta_graph) -> None:
    item = meta_graph.add_media(b"abc", "image/jpeg")
    meta_graph.fail_downloads(item.media_id, times=1, status=500)
    info = await client.media_info(item.media_id)
    with pytest.raises(WhatsAppSendError) as exc:
        async for _ in client.stream_media(info.url):
            pass
    assert exc.value.http_status == 500
    assert b"".join([c async for c in client.stream_media(info.url)]) == b"abc"


async def test_unknown_media_id(client) -> None:
    with pytest.raises(WhatsAppSendError) as info:
        await client.media_info("999")
    assert info.value.http_status == 404
