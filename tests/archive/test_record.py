"""The record contract: canonical form, hash, ids sortable by capture time, the published schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import bridge
from bridge.ids import is_record_id, record_id_time
from bridge.record import Record, canonical_json, record_sha256
from tests.support.records import inbound_text

SCHEMA = json.loads((Path(bridge.__file__).parent / "schema" / "record.schema.json").read_text())


def test_sealed_record_has_id_capture_time_and_hash():
    record = inbound_text(1, text="Grüße 👋").sealed()
    assert is_record_id(record.id)
    assert record.captured_at.endswith("Z")
    assert record.sha256 == record_sha256(record.to_dict())
    assert record_id_time(record.id).year == int(record.captured_at[:4])


def test_canonical_form_is_sorted_compact_utf8():
    record = inbound_text(2, text="Grüße 👋").sealed()
    data = record.canonical()
    assert "Grüße 👋".encode() in data  # UTF-8, not \\u escapes
    assert b": " not in data and b", " not in data
    doc = json.loads(data)
    assert list(doc) == sorted(doc)
    assert canonical_json(doc) == data
    assert Record.from_bytes(data) == record


def test_changing_any_field_changes_the_hash():
    record = inbound_text(3).sealed()
    doc = record.to_dict()
    doc["text"] = "message number 4"
    assert record_sha256(doc) != record.sha256


def test_ids_sort_by_capture_time():
    ids = [inbound_text(i).sealed().id for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_real_records_validate_against_the_published_schema():
    record = inbound_text(5).sealed()
    jsonschema.validate(json.loads(record.canonical()), SCHEMA)


def test_schema_rejects_a_record_missing_a_field_or_with_a_bad_kind():
    doc = json.loads(inbound_text(6).sealed().canonical())
    broken = dict(doc, kind="gossip")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
    del doc["sender"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def test_unknown_kind_is_refused_when_the_record_is_made():
    with pytest.raises(ValueError):
        Record(
            conversation=None,
            platform="teams",
            direction="internal",
            kind="gossip",
            type=None,
            source_id=None,
            sent_at="2026-11-28T00:00:00.000Z",
            captured_at="",
            sender=None,
        )
