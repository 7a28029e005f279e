"""EML threads as a mail client or notmuch rebuilds them: every conversation one thread, each
message under the one it answers (the replied-to message, the message a relay post carries, the
employee message a send carries, else the one before), with display names and stable addresses."""

from __future__ import annotations

import email
from email import policy
from email.utils import getaddresses
from pathlib import Path

import pytest

from bridge.readside.export.eml import message_id_for
from tests.readside import scenario
from tests.readside.export_archives import fixture_archive
from tests.readside.support import cli_env, run_cli


def parse_all(out: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(out.rglob("*.eml"))
    ]


def threads(messages: list[email.message.EmailMessage]) -> list[set[str]]:
    """Threads as the JWZ algorithm joins them: messages linked through References and
    In-Reply-To (a referenced id that is not a message still joins its referrers)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for msg in messages:
        own = msg["Message-ID"]
        find(own)
        for ref in str(msg.get("References", "")).split() + str(msg.get("In-Reply-To", "")).split():
            parent[find(ref)] = find(own)
    groups: dict[str, set[str]] = {}
    for msg in messages:
        groups.setdefault(find(msg["Message-ID"]), set()).add(msg["Message-ID"])
    return list(groups.values())


def export_eml(archive_root: Path, tmp: Path, name: str, *extra: str) -> Path:
    out = tmp / name
    with cli_env({"env": {"ARCHIVE_URL": str(archive_root)}}, tmp):
        code, stdout, stderr = run_cli(
            "archive", "export", "--format", "eml", "--out", str(out), *extra
        )
    assert code == 0, stdout + stderr
    return out


@pytest.fixture(scope="module")
def fixture_export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eml")
    root = tmp / "archive"
    ids = fixture_archive(root)
    out = export_eml(root, tmp, "eml", "--business-name", "Contoso Capital")
    return ids, parse_all(out)


def test_one_thread_per_conversation_every_later_message_referencing_the_first(fixture_export):
    _, messages = fixture_export
    by_conversation: dict[str, list] = {}
    for msg in messages:
        by_conversation.setdefault(msg["X-Wabridge-Conversation"], []).append(msg)
    assert len(by_conversation) >= 4
    found = threads(messages)
    for conversation, group in by_conversation.items():
        ids = {m["Message-ID"] for m in group}
        assert ids in found, conversation  # exactly one thread, nothing else in it
        ordered = sorted(group, key=lambda m: (m["X-Wabridge-Sent-At"], m["X-Wabridge-Record-Id"]))
        root = ordered[0]["Message-ID"]
        for msg in ordered[1:]:
            assert msg["In-Reply-To"], msg["Subject"]
            assert root in str(msg["References"]).split()
            assert str(msg["References"]).split()[-1] == msg["In-Reply-To"]


def test_each_message_under_the_one_it_answers(fixture_export):
    ids, messages = fixture_export
    by_record = {m["X-Wabridge-Record-Id"]: m for m in messages}
    text, reply = by_record[ids["text"][0]], by_record[ids["text_reply"][0]]
    # text_reply answers an outbound message of before the fixtures: its context.id still
    assert reply["In-Reply-To"] == message_id_for(reply["X-Wabridge-Reply-To"])
    assert reply["In-Reply-To"] != reply["References"].split()[0]  # and the thread's root
    relay = by_record[ids["relay"][0]]
    assert relay["In-Reply-To"] == text["Message-ID"]  # the bot's Teams post of it
    sends = [
        by_record[i] for i in ids["relay"][1:] if by_record[i]["X-Wabridge-Platform"] == "whatsapp"
    ]
    for send in sends:
        employee = by_record[send["X-Wabridge-Relates-To"]]
        assert send["In-Reply-To"] == employee["Message-ID"]
    group = [m for m in messages if m["X-Wabridge-Group"]]
    same = next(m for m in group if "Same question" in m.get_body(("plain",)).get_content())
    asked = next(m for m in group if "quote the 2027" in m.get_body(("plain",)).get_content())
    assert same["In-Reply-To"] == asked["Message-ID"]


def test_from_and_to_carry_names_and_stable_addresses(fixture_export):
    ids, messages = fixture_export
    by_record = {m["X-Wabridge-Record-Id"]: m for m in messages}
    inbound = by_record[ids["text"][0]]
    assert getaddresses([str(inbound["From"])]) == [("Ana Pereira", "15555550123@whatsapp.invalid")]
    assert getaddresses([str(inbound["To"])]) == [
        ("Contoso Capital", "business.106540352242922@whatsapp.invalid")
    ]
    send = next(
        by_record[i] for i in ids["relay"] if by_record[i]["X-Wabridge-Platform"] == "whatsapp"
    )
    # the send record names neither side; the export knows them from the conversation
    assert getaddresses([str(send["From"])]) == [
        ("Contoso Capital", "business.106540352242922@whatsapp.invalid")
    ]
    assert getaddresses([str(send["To"])]) == [("Ana Pereira", "15555550123@whatsapp.invalid")]
    employee = by_record[send["X-Wabridge-Relates-To"]]
    assert getaddresses([str(employee["From"])]) == [("Ann Employee", "ann@contoso.com")]
    bsuid = next(m for m in messages if "see you Monday" in m.get_body(("plain",)).get_content())
    assert getaddresses([str(bsuid["From"])]) == [
        ("Cara", "user.US.7777000011112222@whatsapp.invalid")
    ]
    # the same person has the same address in every message
    addresses: dict[str, set[str]] = {}
    for msg in messages:
        for name, addr in getaddresses([str(msg["From"]), str(msg.get("To", ""))]):
            addresses.setdefault(name, set()).add(addr)
    assert addresses["Ana Pereira"] == {"15555550123@whatsapp.invalid"}
    assert addresses["Contoso Capital"] == {  # the firm's two business numbers
        "business.106540352242922@whatsapp.invalid",
        "business.106540352249999@whatsapp.invalid",
    }


def test_the_real_services_conversation_threads_too(tmp_path):
    archive = tmp_path / "archive"
    scenario.play_sync(str(archive))
    messages = parse_all(export_eml(archive, tmp_path, "eml", "--tz", "Europe/London"))
    conversation = [m for m in messages if m["X-Wabridge-Conversation"]]
    assert [len(t) for t in threads(conversation)] == [len(conversation)]
    statuses = [s for m in conversation for s in m.get_all("X-Wabridge-Status") or []]
    assert [s.split()[0] for s in statuses] == ["delivered", "read", "failed"]
    failures = [str(f) for m in conversation for f in m.get_all("X-Wabridge-Failure") or []]
    assert len(failures) == 1 and "(#131026) Message undeliverable" in failures[0]
    first = next(m for m in conversation if m["X-Wabridge-Source-Id"] == "wamid.review.in.1")
    assert first["Date"].datetime.utcoffset().total_seconds() == 3600  # shown in London time
    assert first["X-Wabridge-Edit"] and first["Subject"].startswith("[WhatsApp] Zoë Müller: ")
