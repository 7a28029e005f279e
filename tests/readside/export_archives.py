"""Archives for the export tests: every payload fixture through the real converters, the records
the relay writes around them, and records as WhatsApp in 2026 makes them (groups, BSUIDs,
usernames, imported history, calls, delivery pointers), written as stored records by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bridge.archive import Archive, dedupe_key_for
from bridge.convert.teams import employee_change_record, employee_message_record
from bridge.convert.whatsapp import convert_delivery
from bridge.ids import event_key, record_blob_name
from bridge.ledger import LedgerEntry
from bridge.record import Attachment, Party, Record, canonical_json, record_sha256
from tests.whatsapp.fixtures import ANA, ANA_CONVERSATION, PHONE_NUMBER_ID, media_bytes, names
from tests.whatsapp.fixtures import load as load_whatsapp

TEAMS = Path(__file__).resolve().parents[1] / "data" / "teams"
RECEIVED = "2026-11-28T18:00:00.000Z"
ANN = Party("0b7e3f4c-aaaa-4bbb-8ccc-000000000001", "Ann Employee", "teams", "ann@contoso.com")
BOT = Party("28:wabridge-bot", "wabridge", "teams")
CHANNEL = Party("19:inbox-channel@thread.tacv2", None, "teams")
BUSINESS = Party(PHONE_NUMBER_ID, None, "whatsapp")
GROUP_CONVERSATION = f"wa:{PHONE_NUMBER_ID}:group.120363025555555555"
GROUP = {"id": "120363025555555555@g.us", "subject": "Bond desk clients"}
BSUID_CONVERSATION = f"wa:{PHONE_NUMBER_ID}:US.7777000011112222"
TERMS_PDF = b"%PDF-1.7 terms and conditions " * 20
#: Outbound wamids the status (08), failure (09) and reaction (06) fixtures report on.
OUT = {
    n: f"wamid.HBgLMTU1NTU1NTAxMjMVAgARGBJPVVRCT1VORDAw{b}"
    for n, b in (("08", "MDgA"), ("09", "MDkA"), ("06", "MDYA"))
}


def teams_activity(name: str) -> dict[str, Any]:
    return json.loads((TEAMS / f"{name}.json").read_text(encoding="utf-8"))


def fixture_records() -> list[tuple[str, Record, str]]:
    """``(fixture, record, dedupe key)`` of every WhatsApp and Teams payload fixture."""
    out = []
    for name in names():
        for record, key in convert_delivery(load_whatsapp(name), received_at=RECEIVED):
            out.append((name, record, key))
    contact = Party(ANA, None, "whatsapp")
    pdf = Attachment(_sha(TERMS_PDF), "application/pdf", len(TERMS_PDF), "terms.pdf", None, None)
    reply = employee_message_record(
        teams_activity("channel_reply"),
        conversation=ANA_CONVERSATION,
        contact=contact,
        upn="ann@contoso.com",
        attachments=[pdf],
    )
    out.append(("channel_reply", reply, event_key("teams", "message", reply.source_id)))
    for name in ("message_edit", "message_delete"):
        change = employee_change_record(
            teams_activity(name), conversation=ANA_CONVERSATION, contact=contact, upn=None
        )
        out.append((name, change, event_key("teams", name, change.source_id, change.sent_at)))
    return out


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def relay_records(by_fixture: dict[str, list[Record]]) -> list[Record]:
    """What the relay writes around the fixtures: the bot's Teams post of an inbound message, an
    employee's replies and their Cloud API sends (whose wamids the status fixtures name)."""
    text = by_fixture["text"][0]
    out = [
        Record(
            conversation=ANA_CONVERSATION,
            platform="teams",
            direction="inbound",
            kind="message",
            type="relay",
            source_id="1764350000001",
            sent_at="2025-11-28T17:00:01.400Z",
            captured_at="",
            sender=BOT,
            recipients=(CHANNEL,),
            text=f"**Ana Pereira (+{ANA})**: {text.text}",
            relates_to=text.id,
        ).sealed()
    ]
    for n, (second, words) in {
        "08": (30, "Your statement is attached."),
        "09": (31, "Following up on the bond offering."),
        "06": (32, "Thanks, we will call you."),
    }.items():
        employee = Record(
            conversation=ANA_CONVERSATION,
            platform="teams",
            direction="outbound",
            kind="message",
            type="text",
            source_id=f"17643500002{n}",
            sent_at=f"2025-11-28T16:59:{second}.000Z",
            captured_at="",
            sender=ANN,
            recipients=(Party(ANA, None, "whatsapp"),),
            text=words,
        ).sealed()
        send = Record(
            conversation=ANA_CONVERSATION,
            platform="whatsapp",
            direction="outbound",
            kind="message",
            type="text",
            source_id=OUT[n],
            sent_at=f"2025-11-28T16:59:{second}.300Z",
            captured_at="",
            sender=BUSINESS,
            recipients=(Party(ANA, None, "whatsapp"),),
            text=words,
            relates_to=employee.id,
        ).sealed()
        out += [employee, send]
    return out


def _doc(record: Record, **extra: Any) -> dict[str, Any]:
    doc = record.sealed().to_dict()
    for key, value in extra.items():
        if key in ("sender", "recipients") or value is not None:
            doc[key] = value
    doc["sha256"] = record_sha256(doc)
    return doc


def docs_2026() -> list[dict[str, Any]]:
    """Records as WhatsApp in 2026 gives them: a group, BSUID contacts, usernames, imported
    history, a call, delivery pointers (stored as dicts: the record class has no such fields)."""
    ana = {
        "id": ANA,
        "wa_id": ANA,
        "user_id": "US.13491208655302741918",
        "parent_user_id": "US.99990001",
        "username": "ana.p",
        "name": "Ana Pereira",
        "platform": "whatsapp",
    }
    ben = {
        "id": "US.88884444",
        "user_id": "US.88884444",
        "username": "ben_b",
        "name": "Ben B.",
        "platform": "whatsapp",
    }
    business = BUSINESS.to_dict()

    def rec(n: int, **kw: Any) -> Record:
        base = dict(
            conversation=GROUP_CONVERSATION,
            platform="whatsapp",
            direction="inbound",
            kind="message",
            type="text",
            source_id=f"wamid.GROUP{n:04d}",
            sent_at=f"2026-11-30T09:{n:02d}:00.000Z",
            captured_at="",
            sender=Party(ANA, "Ana Pereira"),
            recipients=(BUSINESS,),
        )
        base.update(kw)
        return Record(**base).sealed()

    group = {"group": GROUP}
    joined = rec(1, kind="system", type="participants_add", text="Ben B. joined the group")
    asked = rec(2, text="Can the desk quote the 2027 bond?")
    ben_says = rec(3, text="Same question from me")
    employee = rec(
        4,
        platform="teams",
        direction="outbound",
        source_id="1764360000404",
        sender=ANN,
        recipients=(),
        text="Quote: 98.25, valid until noon.",
    )
    send = rec(
        5,
        direction="outbound",
        sender=BUSINESS,
        recipients=(),
        relates_to=employee.id,
        text="Quote: 98.25, valid until noon.",
    )
    thumbs = rec(6, kind="reaction", type="reaction", text="👍", relates_to="wamid.GROUP0002")
    read = rec(
        7,
        kind="status",
        type=None,
        direction="outbound",
        status="read",
        source_id="wamid.GROUP0005",
        relates_to="wamid.GROUP0005",
        sender=BUSINESS,
        text=None,
    )
    pointer = {"sha256": "ab" * 32, "pointer": "/entry/0/changes/0/value/messages/0"}
    out = [
        _doc(joined, **group, sender=business, recipients=[ben]),
        _doc(asked, **group, sender=ana, delivery=pointer),
        _doc(ben_says, **group, sender=ben, reply_to="wamid.GROUP0002"),
        _doc(employee, **group, recipients=[{"id": GROUP["id"], "platform": "whatsapp"}]),
        _doc(send, **group),
        _doc(thumbs, **group, sender=ben),
        _doc(read, **group, recipients=[ana]),
    ]
    bsuid = {
        "id": "US.7777000011112222",
        "user_id": "US.7777000011112222",
        "username": "cara.c",
        "name": "Cara",
        "platform": "whatsapp",
    }
    history = rec(
        8, conversation=BSUID_CONVERSATION, text="(from before the bridge) see you Monday"
    )
    call = rec(9, conversation=BSUID_CONVERSATION, kind="system", type="terminate", text=None)
    out.append(_doc(history, sender=bsuid, imported=True))
    call_doc = _doc(call, sender=bsuid)
    call_doc.update(
        kind="call",
        call={"id": "wacid.1", "direction": "inbound", "status": "completed", "duration_s": 65},
    )
    call_doc["sha256"] = record_sha256(call_doc)
    out.append(call_doc)
    return out


async def put_doc(archive: Archive, doc: dict[str, Any]) -> str:
    """Store a hand-made record dict as the archive stores records (blob and ledger entry)."""
    name = record_blob_name(doc["conversation"], doc["sent_at"], event_key("doc", doc["id"]))
    await archive.store.create(name, canonical_json(doc))
    await archive.ledger.add(LedgerEntry(name, doc["sha256"], doc["id"]))
    return name


async def build_fixture_archive(archive: Archive) -> dict[str, list[str]]:
    """Every fixture (and the relay's and 2026's records); ``{fixture: [record ids]}``."""
    await archive.store.ensure_ready()
    by_fixture: dict[str, list[Record]] = {}
    for name, record, key in fixture_records():
        stored = (await archive.put(record, key)).record
        by_fixture.setdefault(name, []).append(stored)
    for kind in ("image", "audio", "video", "document", "sticker"):
        await archive.put_media_bytes(media_bytes(kind), mime_type="application/octet-stream")
    await archive.put_media_bytes(TERMS_PDF, mime_type="application/pdf")
    for record in relay_records(by_fixture):
        await archive.put(record, dedupe_key_for(record))
        by_fixture.setdefault("relay", []).append(record)
    ids = {name: [r.id for r in records] for name, records in by_fixture.items()}
    ids["2026"] = []
    for doc in docs_2026():
        await put_doc(archive, doc)
        ids["2026"].append(doc["id"])
    return ids


def fixture_archive(root: Path) -> dict[str, list[str]]:
    """:func:`build_fixture_archive` into a local archive directory."""
    import asyncio

    from bridge.store.local import LocalStore

    async def build() -> dict[str, list[str]]:
        archive = Archive(LocalStore(root))
        try:
            return await build_fixture_archive(archive)
        finally:
            await archive.close()

    return asyncio.run(build())
