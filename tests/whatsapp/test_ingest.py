"""Ingest (bot/capture): records made durable within the budget, then handed on."""

from __future__ import annotations

import asyncio

import pytest

from bot.capture.ingest import Ingest
from bot.capture.media import MediaCapture
from bridge.archive import Archive
from bridge.convert.whatsapp import convert_delivery
from bridge.record import Flag
from bridge.store.local import LocalStore
from tests.fakes.meta_graph import text_delivery

PNID = "106540352242922"


class Gate:
    def inbound_flags(self, text: str):
        return (Flag("promissory", "flag", "Promissory language"),) if "guaranteed" in text else ()


class NoMedia:
    async def media_info(self, media_id):  # pragma: no cover - no media in these deliveries
        raise AssertionError("no media")

    def stream_media(self, url):  # pragma: no cover
        raise AssertionError("no media")


def items(text: str, wamid: str = "wamid.ingest.1"):
    return convert_delivery(
        text_delivery(PNID, "15555550123", text, wamid=wamid),
        received_at="2026-11-28T10:00:00.000Z",
    )


@pytest.fixture
async def archive(tmp_path):
    archive = Archive(LocalStore(tmp_path / "archive"))
    yield archive
    await archive.close()


async def test_records_are_durable_and_flagged_before_the_listeners_hear_of_them(archive):
    heard = []

    async def listener(records):
        heard.append([(await archive.read_record(n)).id for n in names])

    ingest = Ingest(archive, MediaCapture(archive, NoMedia()), Gate(), listeners=[listener])
    names: list[str] = []
    archive.observers.append(lambda result: names.append(result.name))
    stored = await ingest.accept(items("guaranteed returns, honestly"))
    assert [f.rule for f in stored[0].flags] == ["promissory"]
    assert heard == [[stored[0].id]]


async def test_a_failing_listener_loses_nothing(archive):
    async def broken(records):
        raise RuntimeError("listener bug")

    seen = []

    async def listener(records):
        seen.extend(records)

    ingest = Ingest(archive, MediaCapture(archive, NoMedia()), listeners=[broken, listener])
    stored = await ingest.accept(items("hello"))
    assert seen == stored and len(stored) == 1


class Stalling(LocalStore):
    async def create(self, *args, **kwargs):
        await asyncio.sleep(30)


async def test_storage_that_does_not_answer_fails_within_the_budget(tmp_path):
    archive = Archive(Stalling(tmp_path / "archive"))
    ingest = Ingest(archive, MediaCapture(archive, NoMedia()), budget=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await ingest.accept(items("hello"))
    assert loop.time() - started < 2
    await archive.close()
