"""Checks an RSMF 2.0 file the way Relativity's validator does, and stricter.

Relativity's validator checks the manifest against its JSON schema, that the participants and
conversations the manifest names are defined, that an event's participant belongs to its
conversation, that a ``parent`` is an event of the same conversation, that every file the
manifest names (attachments, avatars, icons) is in ``rsmf.zip``, that nothing but ``rsmf.zip``
is attached at the EML layer, and it warns about properties the specification does not define.
Where Relativity only warns, this check fails, and it adds what a file must be to be trusted:

- the file is 7-bit, CRLF, no line over 998 octets, and Python's ``email`` parser finds no
  defect in it (RFC 5322); ``From``, ``Date`` and ``Message-ID`` are there once;
- every event has an id, a type, a participant, a conversation and a timestamp; every
  timestamp (events, edits, read receipts, the date headers) is ISO 8601 with ``Z`` or an
  offset; every reference resolves; every file in the zip is named by the manifest;
- the roll-up headers are all there and agree with the manifest (first and last event, event,
  participant and attachment counts, application, custodian, collection id);
- wabridge's own profile: a WhatsApp conversation's custodian is the business number, an
  employee carries an Entra object id or UPN, and the plain-text body holds every event's text.

The structure rules restate the RSMF 2.0.0 specification (its JSON schema's properties, types
and enumerations). ``python -m bridge.readside.export.rsmf_check FILE_OR_DIR …`` checks files
from the command line; it prints each problem and exits 1 if there is any.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import zipfile
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from bridge.readside.export.mail import header_text
from bridge.record import parse_rfc3339

ZIP_NAME = "rsmf.zip"
MANIFEST_NAME = "rsmf_manifest.json"
VERSION = "2.0.0"
ROLL_UPS = (
    "X-RSMF-Generator",
    "X-RSMF-BeginDate",
    "X-RSMF-EndDate",
    "X-RSMF-EventCount",
    "X-RSMF-Application",
    "X-RSMF-Custodian",
    "X-RSMF-Participants",
    "X-RSMF-AttachmentCount",
    "X-RSMF-EventCollectionID",
)
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

# The RSMF 2.0.0 specification: property -> type (a tuple is an enumeration), and required.
_NAMEVALUE = {"fields": {"name": "text", "value": "text"}, "required": ("name", "value")}
SPEC: dict[str, dict[str, Any]] = {
    "root": {
        "fields": {
            "version": "text",
            "participants": ["participant"],
            "conversations": ["conversation"],
            "events": ["event"],
            "eventcollectionid": "str",
        },
        "required": ("version", "participants", "conversations", "events"),
    },
    "participant": {
        "fields": {
            "id": "text",
            "display": "str",
            "email": "str",
            "avatar": "str",
            "account_id": "str",
            "custom": ["namevalue"],
        },
        "required": ("id",),
    },
    "conversation": {
        "fields": {
            "id": "text",
            "display": "str",
            "platform": "text",
            "type": ("direct", "channel"),
            "participants": ["text"],
            "custodian": "str",
            "custom": ["namevalue"],
            "icon": "str",
        },
        "required": ("id", "platform", "participants"),
    },
    "event": {
        "fields": {
            "id": "str",
            "type": ("message", "disclaimer", "join", "leave", "history", "unknown"),
            "parent": "str",
            "body": "str",
            "participant": "str",
            "conversation": "str",
            "timestamp": "str",
            "deleted": "bool",
            "importance": ("normal", "high"),
            "reactions": ["reaction"],
            "attachments": ["attachment"],
            "edits": ["edit"],
            "custom": ["namevalue"],
            "direction": ("incoming", "outgoing"),
            "read_receipts": ["receipt"],
        },
        "required": ("type",),
    },
    "reaction": {
        "fields": {"value": "text", "count": "int", "participants": ["text"]},
        "required": ("value",),
    },
    "attachment": {"fields": {"id": "text", "display": "str", "size": "int"}, "required": ("id",)},
    "edit": {
        "fields": {"participant": "text", "timestamp": "str", "previous": "str", "new": "str"},
        "required": ("participant",),
    },
    "receipt": {
        "fields": {"participant": "text", "timestamp": "str", "action": ("read", "delivered")},
        "required": ("participant",),
    },
    "namevalue": _NAMEVALUE,
}


def check_structure(value: Any, kind: str = "root", where: str = "manifest") -> list[str]:
    """The manifest's shape against the specification; every undefined property is an error
    (Relativity: ManifestUndefinedProperty)."""
    spec = SPEC[kind]
    if not isinstance(value, dict):
        return [f"schema: {where} is not an object"]
    out = [f"schema: {where} has no {k!r}" for k in spec["required"] if k not in value]
    for key, item in value.items():
        rule = spec["fields"].get(key)
        at = f"{where}.{key}"
        if rule is None:
            out.append(f"undefined property: {at} is not a property of RSMF 2.0 (use custom)")
        elif isinstance(rule, list):
            if not isinstance(item, list):
                out.append(f"schema: {at} is not an array")
                continue
            for i, element in enumerate(item):
                if rule[0] == "text":
                    if not isinstance(element, str) or not element:
                        out.append(f"schema: {at}[{i}] is not a non-empty string")
                else:
                    out += check_structure(element, rule[0], f"{at}[{i}]")
        elif isinstance(rule, tuple):
            if item not in rule:
                out.append(f"schema: {at} is {item!r}, not one of {', '.join(rule)}")
        elif rule == "bool" and not isinstance(item, bool):
            out.append(f"schema: {at} is not a boolean")
        elif rule == "int" and (not isinstance(item, int) or isinstance(item, bool)):
            out.append(f"schema: {at} is not an integer")
        elif rule in ("str", "text") and not isinstance(item, str):
            out.append(f"schema: {at} is not a string")
        elif rule == "text" and not item:
            out.append(f"schema: {at} is empty")
    return out


def is_timestamp(value: Any) -> bool:
    """ISO 8601 date and time with ``Z`` or an offset (a time with no zone is ambiguous)."""
    if not isinstance(value, str) or not _TIME.match(value):
        return False
    try:
        parse_rfc3339(value)
    except ValueError:
        return False
    return True


def _custom(item: dict[str, Any], name: str) -> str | None:
    for pair in item.get("custom") or []:
        if isinstance(pair, dict) and pair.get("name") == name:
            return pair.get("value")
    return None


def check_manifest(manifest: Any, files: set[str] | None = None) -> list[str]:
    """Every rule on the manifest alone (``files``: the names in the zip, if known)."""
    out = check_structure(manifest)
    if not isinstance(manifest, dict) or any(not p.startswith("undefined") for p in out):
        return out  # the references cannot be followed in a manifest of the wrong shape
    if manifest["version"] != VERSION:
        out.append(f"version: the manifest says {manifest['version']!r}, not {VERSION}")
    participants: dict[str, dict[str, Any]] = {}
    for p in manifest["participants"]:
        if p["id"] in participants:
            out.append(f"reference: participant id {p['id']!r} is defined twice")
        participants[p["id"]] = p
    conversations: dict[str, dict[str, Any]] = {}
    for c in manifest["conversations"]:
        if c["id"] in conversations:
            out.append(f"reference: conversation id {c['id']!r} is defined twice")
        conversations[c["id"]] = c
        for pid in c["participants"]:
            if pid not in participants:
                out.append(
                    f"reference: conversation {c['id']!r} lists participant {pid!r}, which is "
                    "not defined (ManifestInvalidConversationParticipant)"
                )
        custodian = c.get("custodian")
        if not custodian:
            out.append(f"custodian: conversation {c['id']!r} names no custodian")
        elif custodian not in c["participants"]:
            out.append(f"custodian: {custodian!r} is not a participant of {c['id']!r}")
        elif c["platform"].lower() == "whatsapp" and (
            _custom(participants.get(custodian, {}), "role") != "business"
        ):
            out.append(f"custodian: {c['id']!r}'s custodian is not the business number")
    for p in participants.values():
        if _custom(p, "role") == "employee" and not (p.get("account_id") or p.get("email")):
            out.append(f"identity: employee {p['id']!r} carries neither Entra id nor UPN")
    events: dict[str, dict[str, Any]] = {}
    for i, e in enumerate(manifest["events"]):
        at = f"event {e.get('id') or i}"
        for key in ("id", "participant", "conversation", "timestamp"):
            if not e.get(key):
                out.append(f"event: {at} has no {key}")
        if e.get("id"):
            if e["id"] in events:
                out.append(f"reference: event id {e['id']!r} is used twice")
            events[e["id"]] = e
        if e.get("timestamp") and not is_timestamp(e["timestamp"]):
            out.append(f"timestamp: {at} has {e['timestamp']!r} (needs Z or an offset)")
        conv = conversations.get(e.get("conversation") or "")
        if e.get("conversation") and conv is None:
            out.append(f"reference: {at} names conversation {e['conversation']!r}, not defined")
        pid = e.get("participant")
        if pid and pid not in participants:
            out.append(f"reference: {at} names participant {pid!r}, not defined")
        elif pid and conv is not None and pid not in conv["participants"]:
            out.append(
                f"reference: {at}'s participant {pid!r} is not in its conversation "
                "(ManifestInvalidEventParticipant)"
            )
        for name, items in (("edit", e.get("edits")), ("read receipt", e.get("read_receipts"))):
            for item in items or []:
                if item["participant"] not in participants:
                    out.append(f"reference: {at} has a {name} by undefined {item['participant']!r}")
                if not is_timestamp(item.get("timestamp")):
                    out.append(f"timestamp: {at} has a {name} without a zoned timestamp")
        for reaction in e.get("reactions") or []:
            for pid in reaction.get("participants") or []:
                if pid not in participants:
                    out.append(f"reference: {at} has a reaction by undefined {pid!r}")
            if "count" in reaction and "participants" in reaction:
                if reaction["count"] != len(reaction["participants"]):
                    out.append(
                        f"reaction: {at} counts {reaction['count']} for {len(reaction['participants'])} participant(s)"
                    )
        if files is not None:
            for att in e.get("attachments") or []:
                if att["id"] not in files:
                    out.append(f"attachment: {at} names {att['id']!r}, which is not in rsmf.zip")
    for e in events.values():
        parent = e.get("parent")
        if parent is None:
            continue
        target = events.get(parent)
        if target is None or parent == e["id"]:
            out.append(f"reference: event {e['id']!r} has parent {parent!r}, not an event here")
        elif target.get("conversation") != e.get("conversation"):
            out.append(f"reference: event {e['id']!r}'s parent is in another conversation")
    if files is not None:
        named = {a["id"] for e in manifest["events"] for a in e.get("attachments") or []}
        pictures = [
            (f"participant {p['id']!r}'s avatar", p.get("avatar")) for p in participants.values()
        ]
        pictures += [
            (f"conversation {c['id']!r}'s icon", c.get("icon")) for c in conversations.values()
        ]
        for what, name in pictures:
            if name:
                named.add(name)
                if name not in files:
                    out.append(f"attachment: {what} {name!r} is not in rsmf.zip")
        for name in sorted(files - named - {MANIFEST_NAME}):
            out.append(f"zip: {name!r} is in rsmf.zip but the manifest does not name it")
    return out


def _lines(data: bytes) -> list[str]:
    out = []
    if any(b > 127 for b in data):
        out.append("eml: the file is not 7-bit (a byte above 127)")
    if b"\x00" in data:
        out.append("eml: the file holds a NUL byte")
    if re.search(rb"(?<!\r)\n|\r(?!\n)", data):
        out.append("eml: a line does not end CRLF")
    if any(len(line) > 998 for line in re.split(rb"\r\n|\n|\r", data)):
        out.append("eml: a line is longer than 998 octets (RFC 5322)")
    return out


def _defects(msg: EmailMessage) -> list[str]:
    out = []
    for part in msg.walk():
        out += [f"eml: {type(d).__name__}: {d}" for d in part.defects]
        for name, value in part.items():
            out += [
                f"eml: header {name}: {type(d).__name__}" for d in getattr(value, "defects", ())
            ]
    return out


def check_bytes(data: bytes) -> list[str]:
    """Every rule, on the bytes of one ``.rsmf`` file."""
    out = _lines(data)
    msg = BytesParser(policy=policy.default).parsebytes(data)
    out += _defects(msg)
    for name in ("From", "Date", "Message-ID", "X-RSMF-Version"):
        count = len(msg.get_all(name) or [])
        if count != 1:
            out.append(f"eml: {name} appears {count} times (once required)")
    if str(msg.get("X-RSMF-Version", "")) != VERSION:
        out.append(f"eml: X-RSMF-Version is {msg.get('X-RSMF-Version')!r}, not {VERSION}")
    if msg.get("Date") is not None and getattr(msg["Date"], "datetime", None) is None:
        out.append("eml: Date is not a date")
    attachments = [p for p in msg.iter_attachments()] if msg.is_multipart() else []
    if len(attachments) != 1 or attachments[0].get_filename() != ZIP_NAME:
        names = [p.get_filename() for p in attachments]
        return [*out, f"eml: exactly one attachment, rsmf.zip, is allowed; found {names}"]
    zpart = attachments[0]
    if zpart.get("Content-Transfer-Encoding", "").lower() != "base64":
        out.append("eml: rsmf.zip is not base64 encoded")
    if zpart.get_content_disposition() != "attachment":
        out.append("eml: rsmf.zip is not Content-Disposition: attachment")
    body = msg.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    if body is None:
        out.append("eml: no plain-text body (the events' text)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(zpart.get_payload(decode=True)))
        names = [i.filename for i in archive.infolist()]
    except (zipfile.BadZipFile, ValueError, TypeError) as exc:
        return [*out, f"zip: rsmf.zip cannot be read: {exc}"]
    for name in names:
        if "/" in name or "\\" in name or name.startswith(".") or name != name.strip():
            out.append(f"zip: {name!r} is not a plain file name at the root of the zip")
    if len(set(names)) != len(names):
        out.append("zip: a name occurs twice in rsmf.zip")
    if MANIFEST_NAME not in names:
        return [*out, "zip: rsmf.zip has no rsmf_manifest.json"]
    try:
        manifest = json.loads(archive.read(MANIFEST_NAME).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [*out, f"manifest: not JSON: {exc}"]
    found = check_manifest(manifest, set(names))
    out += found
    if not found:
        out += _roll_ups(msg, manifest) + _body_has_events(text, manifest)
    return out


def _roll_ups(msg: EmailMessage, manifest: dict[str, Any]) -> list[str]:
    out = [f"roll-up: {h} is missing" for h in ROLL_UPS if msg.get(h) is None]
    if out:
        return out
    events = manifest["events"]
    stamps = sorted(parse_rfc3339(e["timestamp"]) for e in events)
    for header, want in (("X-RSMF-BeginDate", stamps[0]), ("X-RSMF-EndDate", stamps[-1])):
        value = str(msg[header])
        if not is_timestamp(value) or parse_rfc3339(value) != want:
            out.append(f"roll-up: {header} {value!r} is not the events' {want.isoformat()}")
    counts = {
        "X-RSMF-EventCount": len(events),
        "X-RSMF-AttachmentCount": sum(len(e.get("attachments") or []) for e in events),
    }
    for header, want in counts.items():
        if str(msg[header]).strip() != str(want):
            out.append(f"roll-up: {header} is {str(msg[header])!r}, the manifest has {want}")
    names = next(csv.reader([str(msg["X-RSMF-Participants"])]), [])
    # (a header shows a name's control characters escaped: it could not hold them)
    want_names = [
        header_text(p.get("display") or p["id"], 10_000) for p in manifest["participants"]
    ]
    if names != want_names:
        out.append(f"roll-up: X-RSMF-Participants {names} is not the manifest's {want_names}")
    people = {p["id"]: p for p in manifest["participants"]}
    custodians = [
        header_text(people[c["custodian"]].get("display") or c["custodian"], 10_000)
        for c in manifest["conversations"]
        if c.get("custodian") in people
    ]
    if str(msg["X-RSMF-Custodian"]) not in custodians:
        out.append(
            f"roll-up: X-RSMF-Custodian {str(msg['X-RSMF-Custodian'])!r} is not {custodians}"
        )
    platforms = {c["platform"].lower() for c in manifest["conversations"]}
    if str(msg["X-RSMF-Application"]).lower() not in platforms:
        out.append(f"roll-up: X-RSMF-Application is not the conversations' platform {platforms}")
    if str(msg["X-RSMF-EventCollectionID"]) != manifest.get("eventcollectionid"):
        out.append("roll-up: X-RSMF-EventCollectionID is not the manifest's eventcollectionid")
    return out


def _body_has_events(text: str, manifest: dict[str, Any]) -> list[str]:
    flat = " ".join(text.split())
    out = []
    for e in manifest["events"]:
        body = " ".join((e.get("body") or "").split())
        if body and body not in flat:
            out.append(f"body: the text of event {e.get('id')!r} is not in the plain-text body")
    return out


def check_file(path: Path) -> list[str]:
    return check_bytes(Path(path).read_bytes())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m bridge.readside.export.rsmf_check FILE_OR_DIR ...", file=sys.stderr)
        return 2
    files: list[Path] = []
    for arg in args:
        path = Path(arg)
        files += sorted(path.rglob("*.rsmf")) if path.is_dir() else [path]
    bad = 0
    for path in files:
        problems = check_file(path)
        bad += bool(problems)
        for problem in problems:
            print(f"{path}: {problem}")
    print(f"{len(files)} RSMF file(s) checked, {bad} with problems")
    return 1 if bad or not files else 0


if __name__ == "__main__":
    raise SystemExit(main())
