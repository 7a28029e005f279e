"""RSMF export of every payload fixture (through the real converters and archive): each file
passes Relativity's published schema and wabridge's stricter checker, every selected record is
in exactly one file, and edits, deletions, reactions, statuses and groups use RSMF's own
properties."""

from __future__ import annotations

import email
import io
import json
import zipfile
from email import policy
from pathlib import Path

import pytest

from bridge.readside.export.manifest import check_export
from bridge.readside.export.rsmf_check import check_file
from tests.readside.export_archives import (
    ANN,
    BSUID_CONVERSATION,
    GROUP_CONVERSATION,
    OUT,
    fixture_archive,
)
from tests.readside.support import cli_env, run_cli
from tests.readside.test_rsmf_check import schema_errors
from tests.whatsapp.fixtures import ANA_CONVERSATION


def _custom(item: dict, name: str) -> list[str]:
    return [c["value"] for c in item.get("custom", []) if c["name"] == name]


def read_rsmf(path: Path) -> tuple[email.message.EmailMessage, dict, set[str]]:
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    [part] = list(msg.iter_attachments())
    with zipfile.ZipFile(io.BytesIO(part.get_payload(decode=True))) as zf:
        return msg, json.loads(zf.read("rsmf_manifest.json")), set(zf.namelist())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rsmf")
    root = tmp / "archive"
    ids = fixture_archive(root)
    out = tmp / "out"
    with cli_env({"env": {"ARCHIVE_URL": str(root)}}, tmp):
        code, stdout, stderr = run_cli(
            "archive", "export", "--format", "rsmf", "--out", str(out),
            "--tz", "Europe/London", "--business-name", "Contoso Capital",
        )  # fmt: skip
        assert code == 0, stdout + stderr
        _, listed, _ = run_cli("archive", "search", "--json")
    files = {p: read_rsmf(p) for p in sorted((out / "rsmf").rglob("*.rsmf"))}
    return {"ids": ids, "out": out, "files": files, "records": listed.splitlines()}


def test_every_file_passes_the_schema_and_the_checker(exported):
    assert len(exported["files"]) >= 4  # Ana's days, the group, the BSUID contact, internal
    assert check_export(exported["out"]) == []  # manifest.json / SHA256SUMS cover every file
    manifest = json.loads((exported["out"] / "manifest.json").read_text())
    assert manifest["rsmf_problems"] == [] and len(manifest["rsmf_files"]) == len(exported["files"])
    for path, (msg, manifest, _names) in exported["files"].items():
        assert schema_errors(manifest) == [], path
        assert check_file(path) == [], path
        assert msg["X-RSMF-Version"] == "2.0.0"
        assert path.read_bytes().isascii()


def test_every_selected_record_is_in_exactly_one_file(exported):
    seen: list[str] = []
    for _msg, manifest, _ in exported["files"].values():
        for event in manifest["events"]:
            seen += _custom(event, "wabridge records")[0].split()
    # the export's own audit is written after it: everything before it is in the files
    selected = [json.loads(line)["id"] for line in exported["records"]][:-1]
    assert sorted(seen) == sorted(selected)
    for fixture, ids in exported["ids"].items():
        assert set(ids) <= set(seen), fixture


def _ana_events(exported) -> dict[str, dict]:
    events = {}
    for msg, manifest, names in exported["files"].values():
        if manifest["conversations"][0]["id"] == ANA_CONVERSATION:
            events.update(
                {e["id"]: {**e, "_names": names, "_msg": msg} for e in manifest["events"]}
            )
    return events


def test_edits_deletions_reactions_and_statuses_use_rsmf_properties(exported):
    ids = exported["ids"]
    events = _ana_events(exported)
    text, text_reply = ids["text"][0], ids["text_reply"][0]
    edited = events[text]
    [edit] = edited["edits"]
    assert edit["previous"].startswith("Hello, I'd like to discuss the bond offering")
    assert edit["new"] == "Hello, I'd like to discuss the bond offering (2027 series)."
    assert edited["body"] == edit["new"] and edit["timestamp"].endswith("Z")
    assert events[text_reply]["deleted"] is True and events[text_reply]["body"]
    # the relay post of the text message is folded into it, not an event of its own
    assert ids["relay"][0] in _custom(edited, "wabridge records")[0].split()
    assert ids["relay"][0] not in events
    # the employee's reply: UPN and Entra id, sent, delivered, read as read receipts
    employee_events = [
        e for e in events.values() if _custom(e, "whatsapp message id") == [OUT["08"]]
    ]
    [reply] = employee_events
    assert reply["direction"] == "outgoing" and reply["participant"] == f"employee:{ANN.id}"
    # (multi.json reports "delivered" once more, later: every status record is kept)
    assert [(r["action"], r["participant"]) for r in reply["read_receipts"]] == [
        ("delivered", "contact:15555550123"),
        ("read", "contact:15555550123"),
        ("delivered", "contact:15555550123"),
    ]
    assert _custom(reply, "status sent")
    failed = next(e for e in events.values() if _custom(e, "whatsapp message id") == [OUT["09"]])
    assert "131047" in _custom(failed, "status failed")[0] and "read_receipts" not in failed
    reacted = next(e for e in events.values() if _custom(e, "whatsapp message id") == [OUT["06"]])
    assert "reactions" not in reacted  # 👍 then removed: nothing stands ...
    assert [v.split()[0] for v in _custom(reacted, "reaction")] == [
        "👍",
        "(removed)",
    ]  # ... history kept
    # the Teams edit and deletion of the employee's message, on that message
    teams = next(e for e in events.values() if _custom(e, "source id") == ["1764350000100"])
    assert teams["deleted"] is True and teams["edits"][0]["new"] == "Yes, it ships on Monday"
    assert [a["display"] for a in teams["attachments"]] == ["terms.pdf"]
    assert teams["attachments"][0]["id"] in teams["_names"]


def test_participants_custodian_and_roll_up_headers(exported):
    for msg, manifest, _ in exported["files"].values():
        [conversation] = manifest["conversations"]
        people = {p["id"]: p for p in manifest["participants"]}
        if conversation["platform"] == "whatsapp":
            custodian = people[conversation["custodian"]]
            assert custodian["display"] == "Contoso Capital"
            assert _custom(custodian, "role") == ["business"]
            assert msg["From"].addresses[0].display_name == "Contoso Capital"
            assert msg["X-RSMF-Custodian"] == "Contoso Capital"
        for person in people.values():
            if _custom(person, "role") == ["employee"]:
                assert person["account_id"] == ANN.id and person["email"] == ANN.upn
        assert msg["X-RSMF-EventCollectionID"] == manifest["eventcollectionid"]
        assert int(msg["X-RSMF-EventCount"]) == len(manifest["events"])


def test_groups_bsuid_contacts_imported_history_and_calls(exported):
    by_conv = {}
    for _msg, manifest, _ in exported["files"].values():
        by_conv.setdefault(manifest["conversations"][0]["id"], []).append(manifest)
    [group] = by_conv[GROUP_CONVERSATION]
    [conversation] = group["conversations"]
    assert conversation["type"] == "channel" and "Bond desk clients" in conversation["display"]
    people = {p["id"]: p for p in group["participants"]}
    ana = people["contact:15555550123"]
    assert _custom(ana, "BSUID (user_id)") == ["US.13491208655302741918"]
    assert _custom(ana, "username") == ["ana.p"] and _custom(ana, "parent_user_id") == [
        "US.99990001"
    ]
    ben = people["contact:US.88884444"]
    assert ben["display"] == "Ben B." and ben["account_id"] == "US.88884444"
    assert set(people) == {"business:106540352242922", ana["id"], ben["id"], f"employee:{ANN.id}"}
    assert set(conversation["participants"]) == set(people)
    assert conversation["custodian"] == "business:106540352242922"
    types = [e["type"] for e in group["events"]]
    assert types[0] == "join" and types.count("message") == 3
    asked = next(e for e in group["events"] if e.get("body", "").startswith("Can the desk"))
    assert asked["reactions"] == [{"value": "👍", "count": 1, "participants": [ben["id"]]}]
    assert _custom(asked, "delivery sha256") == ["ab" * 32]
    same = next(e for e in group["events"] if e.get("body") == "Same question from me")
    assert same["parent"] == asked["id"]
    quote = next(e for e in group["events"] if e.get("body", "").startswith("Quote"))
    assert quote["read_receipts"] == [
        {"participant": ana["id"], "timestamp": "2026-11-30T09:07:00.000Z", "action": "read"}
    ]
    [cara] = by_conv[BSUID_CONVERSATION]
    history, call = cara["events"]
    assert _custom(history, "imported") == ["coexistence history"]
    assert call["type"] == "unknown" and "duration_s 65" in call["body"]
    assert cara["participants"][1]["account_id"] == "US.7777000011112222"


def test_the_body_reads_without_a_review_platform(exported):
    for msg, manifest, _ in exported["files"].values():
        text = msg.get_body(("plain",)).get_content()
        flat = " ".join(text.split())
        for event in manifest["events"]:
            assert " ".join(event.get("body", "").split()) in flat
        assert "Times in Europe/London." in text
