"""Fuzzed Teams activities against a running service: refused or handled, never a 5xx.

The service runs as its own process in dev mode (anonymous Bot Framework), its Bot Connector
and Graph API loopback fakes beside it. Activities keep the shape Teams sends but every field
is drawn at random: types, ids, path-like and control characters, odd text, values, entities,
attachments. Afterwards the log holds no traceback, every record fits the schema, nothing left
the archive's layout, and ``archive verify`` passes.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.loopback.connector import FakeBotConnector
from tests.support.processes import ROOT, Service, clean_env, wabridge

SCHEMA = json.loads((ROOT / "bridge" / "schema" / "record.schema.json").read_text())
CASES = {"teams_activities": 0}

NASTY = st.sampled_from(
    [
        "../../etc/passwd",
        "..",
        "/",
        "a/../b",
        "\x00",
        "\n\r",
        "\x1b[2J",
        "%2e%2e%2f",
        "",
        " ",
        "setup",
        "help",
        "new +15550001111 hello_world",
        "template follow_up x",
        "<at>wabridge</at> setup",
        "19:inbox@thread.tacv2;messageid=1",
        "a" * 500,
    ]
) | st.text(max_size=30)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | NASTY,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


class ThreadedConnector:
    """The fake Bot Connector on a loop of its own (the service is another process)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = asyncio.run_coroutine_threadsafe(FakeBotConnector().start(), self.loop).result(
            10
        )

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("teams-fuzz")
    connector = ThreadedConnector()
    env = clean_env(
        WABRIDGE_DEV_MODE="1",
        ARCHIVE_URL=str(workdir / "archive"),
        WHATSAPP_GRAPH_URL="http://127.0.0.1:9/v23.0",
        WHATSAPP_ACCESS_TOKEN="fuzz-token",
        WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        WHATSAPP_APP_SECRET="fuzz-secret",
        WHATSAPP_VERIFY_TOKEN="fuzz-verify",
        WABRIDGE_SEND_RETRY_SECONDS="0.01",
    )
    service = Service(workdir, env).start()
    try:
        yield service, connector.fake, workdir
    finally:
        service.stop()
        connector.stop()


def activities(service_url: str):
    party = st.fixed_dictionaries(
        {"id": NASTY, "name": NASTY}, optional={"aadObjectId": NASTY | st.uuids().map(str)}
    )
    attachment = st.fixed_dictionaries(
        {
            "contentType": st.sampled_from(
                [
                    "text/html",
                    "image/png",
                    "application/vnd.microsoft.teams.file.download.info",
                    "application/vnd.microsoft.card.adaptive",
                ]
            )
            | NASTY
        },
        optional={
            "name": NASTY,
            "content": ANY_JSON,
            "contentUrl": st.just("http://127.0.0.1:9/file") | st.just(service_url + "/nothing"),
        },
    )
    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                [
                    "message",
                    "messageUpdate",
                    "messageDelete",
                    "conversationUpdate",
                    "invoke",
                    "messageReaction",
                    "installationUpdate",
                ]
            )
            | NASTY,
            "id": NASTY,
            "channelId": st.sampled_from(["msteams", "emulator"]) | NASTY,
            "serviceUrl": st.just(service_url),
            "from": party,
            "recipient": st.just({"id": "28:wabridge-bot", "name": "wabridge"}),
            "conversation": st.fixed_dictionaries(
                {"id": NASTY},
                optional={
                    "conversationType": st.sampled_from(["channel", "personal", "groupChat"])
                    | NASTY,
                    "tenantId": NASTY,
                },
            ),
        },
        optional={
            "text": NASTY,
            "timestamp": NASTY | st.just("2026-11-28T18:00:00.000Z"),
            "replyToId": NASTY,
            "value": ANY_JSON,
            "entities": st.lists(
                st.dictionaries(st.text(max_size=8), ANY_JSON, max_size=3), max_size=2
            ),
            "attachments": st.lists(attachment, max_size=2),
            "channelData": st.fixed_dictionaries(
                {},
                optional={
                    "channel": st.fixed_dictionaries({"id": NASTY}),
                    "team": ANY_JSON,
                    "tenant": ANY_JSON,
                    "eventType": NASTY,
                },
            ),
        },
    )


def post(service: Service, body: bytes) -> int:
    request = urllib.request.Request(
        service.url + "/api/messages", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_fuzzed_activities_never_get_a_5xx(running):
    service, connector, _ = running

    @settings(
        max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    @given(activities(connector.url))
    def check(activity):
        CASES["teams_activities"] += 1
        status = post(service, json.dumps(activity).encode())
        assert status < 500, (status, activity)

    check()
    for body in (
        b"",
        b"[]",
        b"null",
        b"{",
        b'{"type": 1}',
        json.dumps({"a": [[[[[]]]]] * 50}).encode(),
    ):
        assert post(service, body) < 500, body


def test_after_the_fuzz_the_archive_is_whole(running):
    service, _, workdir = running
    log = service.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    root = (workdir / "archive").resolve()
    for path in root.rglob("*"):
        assert path.resolve().is_relative_to(root)
    for path in (root / "records").rglob("*.json") if (root / "records").exists() else []:
        jsonschema.validate(json.loads(path.read_bytes()), SCHEMA)
    result = wabridge("archive", "verify", "--archive", str(root), cwd=Path(workdir))
    assert result.returncode == 0, result.stdout + result.stderr
