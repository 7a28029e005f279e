"""The pure converter over every fixture: kinds, parties, times, text, attachments, raw."""

from __future__ import annotations

import copy
import hashlib

import pytest

from bridge.convert.whatsapp import convert_delivery, normalize_sha256
from bridge.record import canonical_json
from tests.whatsapp.fixtures import (
    ANA,
    ANA_CONVERSATION,
    BEN,
    BUSINESS_NUMBER,
    PHONE_NUMBER_ID,
    first_message,
    load,
    media_bytes,
    names,
)

RECEIVED = "2026-11-28T18:00:00.000Z"
T0 = "2025-11-28T17:00:"  # fixture message n has timestamp T0 + n seconds

# fixture -> (kind, type, direction, text fragment or None, attachments, second of sent_at)
EXPECTED = {
    "text": ("message", "text", "inbound", "discuss the bond offering", 0, 1),
    "text_reply": ("message", "text", "inbound", "Friday works", 0, 2),
    "image": ("message", "image", "inbound", "Signed form", 1, 3),
    "audio_voice": ("message", "audio", "inbound", None, 1, 4),
    "video": ("message", "video", "inbound", "Site visit", 1, 5),
    "document": ("message", "document", "inbound", "Q3 statement", 1, 6),
    "sticker": ("message", "sticker", "inbound", None, 1, 7),
    "location": ("message", "location", "inbound", "Head Office", 0, 8),
    "contacts": ("message", "contacts", "inbound", "Barbara J. Johnson", 0, 9),
    "interactive_button_reply": ("message", "interactive", "inbound", "Yes, confirm", 0, 10),
    "interactive_list_reply": ("message", "interactive", "inbound", "Thursday 10:00", 0, 11),
    "interactive_nfm_reply": ("message", "interactive", "inbound", "risk_profile", 0, 12),
    "button": ("message", "button", "inbound", "Stop promotions", 0, 13),
    "reaction": ("reaction", "reaction", "inbound", "\U0001f44d", 0, 14),
    "reaction_removed": ("reaction", "reaction", "inbound", None, 0, 15),
    "order": ("message", "order", "inbound", "2 x bond-fund-a", 0, 16),
    "system": ("system", "system", "inbound", "changed from", 0, 17),
    "request_welcome": ("system", "request_welcome", "inbound", None, 0, 18),
    "referral": ("message", "text", "inbound", "Open an account today", 0, 19),
    "unsupported": ("message", "unsupported", "inbound", "Message type unknown", 0, 20),
    "unknown_type": ("message", "unsupported", "inbound", "hologram", 0, 21),
    "edit": ("edit", "edit", "inbound", "(2027 series)", 0, 22),
    "revoke": ("delete", "revoke", "inbound", None, 0, 23),
    "status_sent": ("status", None, "outbound", None, 0, 30),
    "status_delivered": ("status", None, "outbound", None, 0, 31),
    "status_read": ("status", None, "outbound", None, 0, 32),
    "status_failed": ("status", None, "outbound", "24 hours", 0, 33),
    "smb_message_echoes": ("message", "text", "outbound", "statement is ready", 0, 40),
}


def test_every_fixture_is_covered() -> None:
    assert set(EXPECTED) | {"errors", "unknown_field", "multi"} == set(names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_maps_to_the_right_record(name: str) -> None:
    kind, type_, direction, text, n_attachments, second = EXPECTED[name]
    payload = load(name)
    [(record, key)] = convert_delivery(payload, received_at=RECEIVED)
    event = first_message(payload)
    assert (record.kind, record.type, record.direction) == (kind, type_, direction)
    assert record.platform == "whatsapp"
    assert record.source_id == event["id"]
    assert record.sent_at == f"{T0}{second:02d}.000Z"
    assert record.conversation == ANA_CONVERSATION
    assert record.raw == event and canonical_json(record.raw) == canonical_json(event)
    if text is None:
        assert record.text is None
    else:
        assert text in record.text
    assert len(record.attachments) == n_attachments
    if direction == "inbound":
        assert record.sender.id == ANA
        assert record.sender.name == (None if name == "system" else "Ana Pereira")
        assert [p.id for p in record.recipients] == [BUSINESS_NUMBER]
    else:
        assert record.sender.id == BUSINESS_NUMBER
        assert [p.id for p in record.recipients] == [ANA]
    assert len(key) == 32


@pytest.mark.parametrize("kind", ["image", "audio", "video", "document", "sticker"])
def test_attachments_are_named_by_the_webhook_hash_in_hex(kind: str) -> None:
    name = "audio_voice" if kind == "audio" else kind
    payload = load(name)
    [(record, _)] = convert_delivery(payload, received_at=RECEIVED)
    [att] = record.attachments
    media = first_message(payload)[kind]
    expected = hashlib.sha256(media_bytes(kind)).hexdigest()
    assert att.sha256 == expected  # base64 (image, ...) and hex (document) both end up hex
    assert att.blob == f"media/{expected[:2]}/{expected}"
    assert att.media_id == media["id"] and att.mime_type == media["mime_type"]
    assert att.caption == media.get("caption")
    assert att.filename == media.get("filename")


def test_links_between_records() -> None:
    [(reply, _)] = convert_delivery(load("text_reply"), received_at=RECEIVED)
    assert reply.reply_to == first_message(load("text_reply"))["context"]["id"]
    for name, field in (("edit", "edit"), ("revoke", "revoke")):
        [(record, _)] = convert_delivery(load(name), received_at=RECEIVED)
        assert record.relates_to == first_message(load(name))[field]["original_message_id"]
    [(reaction, _)] = convert_delivery(load("reaction"), received_at=RECEIVED)
    assert reaction.relates_to == first_message(load("reaction"))["reaction"]["message_id"]
    [(status, _)] = convert_delivery(load("status_failed"), received_at=RECEIVED)
    assert status.status == "failed" and status.relates_to == status.source_id
    assert status.raw["errors"][0]["code"] == 131047


def test_status_keeps_pricing_and_conversation_in_raw() -> None:
    [(status, _)] = convert_delivery(load("status_sent"), received_at=RECEIVED)
    assert status.raw["pricing"]["category"] == "service"
    assert status.raw["conversation"]["origin"]["type"] == "service"
    assert status.status == "sent"


def test_value_level_error_is_an_internal_error_record() -> None:
    payload = load("errors")
    [(record, _)] = convert_delivery(payload, received_at=RECEIVED)
    assert (record.kind, record.direction, record.source_id) == ("error", "internal", None)
    assert record.raw == first_message(payload)
    assert "131000" in record.text


def test_unknown_webhook_field_is_kept_whole() -> None:
    payload = load("unknown_field")
    [(record, _)] = convert_delivery(payload, received_at=RECEIVED)
    assert record.type == "unsupported"
    assert record.raw == payload["entry"][0]["changes"][0]


def test_delivery_with_several_entries_changes_and_messages() -> None:
    records = [r for r, _ in convert_delivery(load("multi"), received_at=RECEIVED)]
    assert [(r.kind, r.sender.id) for r in records] == [
        ("message", ANA),
        ("message", BEN),
        ("status", BUSINESS_NUMBER),
        ("message", ANA),
    ]
    assert records[1].sender.name == "Ben Okafor"
    assert records[1].conversation == f"wa:{PHONE_NUMBER_ID}:{BEN}"
    assert records[3].conversation == "wa:106540352249999:15555550123"
    assert len({r.conversation for r in records}) == 3


def test_keys_are_stable_across_redeliveries_and_distinct_per_event() -> None:
    keys = {}
    for name in names():
        first = [k for _, k in convert_delivery(load(name), received_at=RECEIVED)]
        again = [k for _, k in convert_delivery(load(name), received_at="2026-11-29T01:00:00.000Z")]
        assert first == again, name
        for k in first:
            keys.setdefault(k, name)
    assert len(keys) == sum(len(convert_delivery(load(n), received_at=RECEIVED)) for n in names())


def test_statuses_of_one_message_are_separate_events() -> None:
    keys = {
        convert_delivery(load(n), received_at=RECEIVED)[0][1]
        for n in ("status_sent", "status_delivered", "status_read")
    }
    assert len(keys) == 3


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "text",
        {"object": "page"},
        {"entry": [{"changes": [{"field": "messages"}]}]},
        {
            "entry": [
                {"changes": [{"field": "messages", "value": {"messages": [{"type": "text"}, 7]}}]}
            ]
        },
    ],
)
def test_malformed_payloads_are_archived_not_dropped(payload) -> None:
    records = convert_delivery(copy.deepcopy(payload), received_at=RECEIVED)
    assert records
    assert all(r.type == "unsupported" for r, _ in records)


def test_sha256_normalisation() -> None:
    digest = hashlib.sha256(b"x")
    import base64

    assert normalize_sha256(base64.b64encode(digest.digest()).decode()) == digest.hexdigest()
    assert normalize_sha256(digest.hexdigest().upper()) == digest.hexdigest()
    assert normalize_sha256("not a hash") is None
    assert normalize_sha256(None) is None


def test_every_converted_record_fits_the_published_schema() -> None:
    import json
    from pathlib import Path

    import jsonschema

    import bridge

    schema = json.loads(
        (Path(bridge.__file__).parent / "schema" / "record.schema.json").read_text()
    )
    for name in names():
        for record, _ in convert_delivery(load(name), received_at=RECEIVED):
            jsonschema.validate(json.loads(record.sealed().canonical()), schema)


@pytest.mark.parametrize("bad_name", [{"first": "Ana"}, ["Ana"], True, 42])
def test_a_profile_name_that_is_not_text_is_kept_as_its_json_text(bad_name) -> None:
    import json
    from pathlib import Path

    import jsonschema

    import bridge

    schema = json.loads(
        (Path(bridge.__file__).parent / "schema" / "record.schema.json").read_text()
    )
    payload = load("text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["profile"]["name"] = bad_name
    [(record, _)] = convert_delivery(copy.deepcopy(payload), received_at=RECEIVED)
    assert record.sender.id == ANA
    assert json.loads(record.sender.name) == bad_name
    assert record.raw["from"] == ANA
    jsonschema.validate(json.loads(record.sealed().canonical()), schema)
