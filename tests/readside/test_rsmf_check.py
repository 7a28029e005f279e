"""The RSMF checker finds what Relativity's validator finds in Relativity's own broken samples,
and what a stricter reviewer would refuse (tests/data/rsmf/NOTICE.md says where they are from)."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import jsonschema

from bridge.readside.export.rsmf_check import check_bytes, check_manifest

RSMF_DATA = Path(__file__).resolve().parents[1] / "data" / "rsmf"
SAMPLES = RSMF_DATA / "samples"


def schema_errors(manifest: dict) -> list[str]:
    """What Relativity's published JSON schema says about a manifest."""
    schema = json.loads((RSMF_DATA / "rsmf_schema_2_0_0.json").read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    return [e.message for e in validator.iter_errors(manifest)]


def _good() -> dict:
    return {
        "version": "2.0.0",
        "participants": [
            {"id": "b", "display": "Contoso", "custom": [{"name": "role", "value": "business"}]},
            {"id": "c", "display": "Zoë"},
        ],
        "conversations": [
            {"id": "c1", "platform": "whatsapp", "participants": ["b", "c"], "custodian": "b"}
        ],
        "events": [
            {
                "id": "e1",
                "type": "message",
                "participant": "c",
                "conversation": "c1",
                "timestamp": "2026-10-01T09:00:00.000Z",
                "body": "hello",
            },
            {
                "id": "e2",
                "type": "message",
                "participant": "b",
                "conversation": "c1",
                "timestamp": "2026-10-01T10:00:00+01:00",
                "parent": "e1",
                "reactions": [{"value": "👍", "count": 1, "participants": ["c"]}],
                "read_receipts": [
                    {"participant": "c", "timestamp": "2026-10-01T09:01:00Z", "action": "read"}
                ],
            },
        ],
    }


def test_sample1_participant_without_id():
    manifest = json.loads((SAMPLES / "Sample1" / "rsmf_manifest.json").read_text())
    assert any("'id' is a required property" in e for e in schema_errors(manifest))
    assert "schema: manifest.participants[0] has no 'id'" in check_manifest(manifest)


def test_sample2_avatar_not_in_the_zip():
    with zipfile.ZipFile(SAMPLES / "Sample2" / "rsmf.zip") as zf:
        manifest = json.loads(zf.read("rsmf_manifest.json"))
        names = set(zf.namelist())
    problems = check_manifest(manifest, names)
    assert "attachment: participant '1''s avatar 'AV1' is not in rsmf.zip" in problems
    # Relativity's fix: put the picture into the zip under that name.
    assert not any("avatar" in p for p in check_manifest(manifest, names | {"AV1"}))


def test_sample3_second_attachment_at_the_eml_layer():
    problems = check_bytes((SAMPLES / "Sample3" / "sample.rsmf").read_bytes())
    assert (
        "eml: exactly one attachment, rsmf.zip, is allowed; found ['avatar.png', 'rsmf.zip']"
        in problems
    )
    # Stricter than Relativity: LF line ends and no Date are RFC 5322 defects too.
    assert "eml: a line does not end CRLF" in problems
    assert "eml: Date appears 0 times (once required)" in problems


def test_sample4_numeric_id_undefined_participant_undefined_property():
    manifest = json.loads((SAMPLES / "Sample4" / "rsmf_manifest.json").read_text())
    assert any("is not of type 'string'" in e for e in schema_errors(manifest))
    assert "schema: manifest.participants[0].id is not a string" in check_manifest(manifest)
    manifest["participants"][0]["id"] = "1"  # Relativity's first fix
    assert schema_errors(manifest) == []  # the schema alone is satisfied now ...
    problems = check_manifest(manifest)  # ... but not the validator's other rules
    assert (
        "reference: conversation '1' lists participant '2', which is not defined "
        "(ManifestInvalidConversationParticipant)" in problems
    )
    assert (
        "reference: event 0's participant '1' is not in its conversation "
        "(ManifestInvalidEventParticipant)" in problems
    )
    assert (
        "undefined property: manifest.events[0].attachment is not a property of RSMF 2.0 "
        "(use custom)" in problems
    )
    # Stricter: an event needs an id, a zoned timestamp, and the conversation a custodian.
    assert "event: event 0 has no id" in problems
    assert "timestamp: event 0 has '2013-01-10T15:53:00' (needs Z or an offset)" in problems
    assert "custodian: conversation '1' names no custodian" in problems


def test_a_good_manifest_passes_and_each_defect_is_named():
    good = _good()
    assert schema_errors(good) == [] and check_manifest(good, {"rsmf_manifest.json"}) == []

    def broken(change) -> list[str]:
        manifest = copy.deepcopy(good)
        change(manifest)
        return check_manifest(manifest, {"rsmf_manifest.json"})

    assert broken(lambda m: m["events"][1].update(parent="nope")) == [
        "reference: event 'e2' has parent 'nope', not an event here"
    ]
    assert broken(lambda m: m["events"][0].update(participant="x")) == [
        "reference: event e1 names participant 'x', not defined"
    ]
    assert broken(lambda m: m["events"][1]["reactions"][0]["participants"].append("x")) == [
        "reference: event e2 has a reaction by undefined 'x'",
        "reaction: event e2 counts 1 for 2 participant(s)",
    ]
    assert broken(lambda m: m["events"][1]["read_receipts"][0].update(timestamp="09:01")) == [
        "timestamp: event e2 has a read receipt without a zoned timestamp"
    ]
    assert broken(lambda m: m["events"][0].update(attachments=[{"id": "a.png"}])) == [
        "attachment: event e1 names 'a.png', which is not in rsmf.zip"
    ]
    assert broken(lambda m: m["conversations"][0].update(custodian="c")) == [
        "custodian: 'c1''s custodian is not the business number"
    ]
    assert "reference: participant id 'b' is defined twice" in broken(
        lambda m: m["participants"].append({"id": "b"})
    )
    stray = check_manifest(good, {"rsmf_manifest.json", "extra.bin"})
    assert stray == ["zip: 'extra.bin' is in rsmf.zip but the manifest does not name it"]
