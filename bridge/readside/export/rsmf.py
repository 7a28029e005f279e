"""RSMF export: one Relativity Short Message Format 2.0 file per conversation and day.

Each ``.rsmf`` is an RFC 5322 message, 7-bit clean with CRLF line ends: the ``X-RSMF-*``
roll-up headers (version, generator, first and last event, event, participant and attachment
counts, application, custodian, and the collection id that ties the days of one conversation
together), the custodian (the firm's business number) in ``From`` and the other participants in
``To``, a plain-text body with every event's text (so the file reads without a review
platform), and exactly one attachment, ``rsmf.zip``, holding ``rsmf_manifest.json``
(:mod:`bridge.readside.export.rsmf_manifest`) and the bytes of every attachment it names.

Days are calendar days in the export's zone. Every file is checked once written
(:func:`bridge.readside.export.rsmf_check.check_file`); a problem is reported, never passed over.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import zipfile
from collections.abc import Iterable
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bridge.readside.export.context import ExportContext
from bridge.readside.export.fold import Entry
from bridge.readside.export.html import conversation_title
from bridge.readside.export.mail import (
    EML_POLICY,
    address_of,
    boundary_for,
    header_text,
    message_id_for,
)
from bridge.readside.export.naming import portable_name
from bridge.readside.export.parties import Roster
from bridge.readside.export.plaintext import transcript
from bridge.readside.export.rsmf_check import MANIFEST_NAME, check_file
from bridge.readside.export.rsmf_manifest import SliceBuilder, SliceManifest
from bridge.record import parse_rfc3339

RSMF_DIR = "rsmf"
#: Formats that are compressed already: stored in the zip as they are.
_PACKED = {
    "jpg",
    "jpeg",
    "png",
    "gif",
    "webp",
    "mp4",
    "3gp",
    "mov",
    "ogg",
    "opus",
    "mp3",
    "m4a",
    "aac",
    "amr",
    "zip",
    "docx",
    "xlsx",
    "pptx",
}


def generator() -> str:
    try:
        return f"wabridge {metadata.version('wabridge')}"
    except metadata.PackageNotFoundError:
        return "wabridge"


def participants_header(names: Iterable[str]) -> str:
    """``X-RSMF-Participants``: the display names, comma-separated (a name with a comma or a
    quote is quoted, CSV style)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(list(names))
    return buffer.getvalue()


def _zip_time(value: str) -> tuple[int, int, int, int, int, int]:
    moment = parse_rfc3339(value)
    if moment.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def write_zip(target: Path, built: SliceManifest, media: dict[str, Path], stamp: str) -> None:
    """``rsmf.zip``: the manifest first, then each attachment once; the same bytes every time."""
    when = _zip_time(stamp)

    def info(name: str, compress: int) -> zipfile.ZipInfo:
        item = zipfile.ZipInfo(name, date_time=when)
        item.compress_type = compress
        item.create_system = 0
        item.external_attr = 0o644 << 16
        return item

    manifest = json.dumps(built.manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr(info(MANIFEST_NAME, zipfile.ZIP_DEFLATED), manifest.encode("utf-8"))
        for member in sorted(built.members):
            path = media[built.members[member]]
            packed = member.rsplit(".", 1)[-1].lower() in _PACKED
            compress = zipfile.ZIP_STORED if packed else zipfile.ZIP_DEFLATED
            with path.open("rb") as src, zf.open(info(member, compress), "w") as dst:
                while chunk := src.read(1024 * 1024):
                    dst.write(chunk)


def write_rsmf(
    target: Path,
    headers: EmailMessage,
    body: str,
    zip_path: Path,
    boundary: str,
) -> None:
    """The ``.rsmf``: ``headers``, then the text part and the zip, base64 streamed."""
    text_part = MIMEPart(policy=EML_POLICY)
    text_part.set_content(body, charset="utf-8", cte="quoted-printable")
    head = headers.as_bytes(policy=EML_POLICY)
    if head.endswith(b"\r\n\r\n"):
        head = head[:-2]
    sep = f"--{boundary}\r\n".encode("ascii")
    part_tmp = target.with_name(target.name + ".part")
    with part_tmp.open("wb") as fh:
        fh.write(head)
        fh.write(b"MIME-Version: 1.0\r\n")
        fh.write(f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode("ascii"))
        fh.write(b"This is an RSMF 2.0 file: rsmf.zip holds rsmf_manifest.json.\r\n")
        fh.write(sep)
        fh.write(text_part.as_bytes(policy=EML_POLICY))
        fh.write(b"\r\n" + sep)
        fh.write(
            b'Content-Type: application/zip; name="rsmf.zip"\r\n'
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="rsmf.zip"\r\n\r\n'
        )
        with zip_path.open("rb") as src:
            while chunk := src.read(57 * 1024):
                fh.write(base64.encodebytes(chunk).replace(b"\n", b"\r\n"))
        fh.write(f"--{boundary}--\r\n".encode("ascii"))
    os.replace(part_tmp, target)


class RsmfWriter:
    """Writes and checks the ``.rsmf`` files of each conversation, a day at a time."""

    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx
        self.files: list[dict[str, Any]] = []
        self.problems: list[str] = []

    async def conversation(self, roster: Roster, entries: list[Entry]) -> None:
        days: dict[str, list[Entry]] = {}
        for entry in entries:
            days.setdefault(self.ctx.zone.day(entry.doc["sent_at"]), []).append(entry)
        for day in sorted(days):
            try:
                await self._slice(roster, day, days[day])
            except Exception as exc:  # one bad day must not stop the export
                self.ctx.failed([r for e in days[day] for r in e.records], exc)

    async def _slice(self, roster: Roster, day: str, entries: list[Entry]) -> None:
        media: dict[str, Path] = {}
        for entry in entries:
            for att in entry.attachments:
                path = await self.ctx.media.attachment(att, entry.id)
                if path is not None:
                    media[att["sha256"]] = path
        available = {sha: path.stat().st_size for sha, path in media.items()}
        title = f"{conversation_title(roster, entries)} - {day}"
        conversation_id = roster.conversation or "internal"
        builder = SliceBuilder(roster, title, available)
        built = builder.build(entries, conversation_id, guard=self._guard)
        manifest = built.manifest
        events = manifest["events"]
        stamps = sorted(events, key=lambda e: parse_rfc3339(e["timestamp"]))
        begin, end = stamps[0]["timestamp"], stamps[-1]["timestamp"]
        people = {p["id"]: p for p in manifest["participants"]}
        custodian = people[manifest["conversations"][0]["custodian"]]
        persons = {p.pid: p for p in roster.participants}
        headers = EmailMessage()
        if custodian["id"] in persons:
            headers["From"] = address_of(persons[custodian["id"]])
        else:
            headers["From"] = '"wabridge" <archive@wabridge.invalid>'
        to = [
            address_of(persons[pid]) for pid in people if pid in persons and pid != custodian["id"]
        ]
        if to:
            headers["To"] = to
        headers["Subject"] = header_text(title)
        headers["Date"] = format_datetime(self.ctx.zone.convert(parse_rfc3339(begin)))
        headers["Message-ID"] = message_id_for(f"rsmf.{manifest['eventcollectionid']}.{day}")
        roll_up = {
            "X-RSMF-Version": manifest["version"],
            "X-RSMF-Generator": generator(),
            "X-RSMF-BeginDate": begin,
            "X-RSMF-EndDate": end,
            "X-RSMF-EventCount": str(len(events)),
            "X-RSMF-Application": "WhatsApp" if roster.business else "wabridge",
            "X-RSMF-Custodian": custodian.get("display") or custodian["id"],
            "X-RSMF-Participants": participants_header(
                p.get("display") or p["id"] for p in manifest["participants"]
            ),
            "X-RSMF-AttachmentCount": str(sum(len(e.get("attachments", [])) for e in events)),
            "X-RSMF-EventCollectionID": manifest["eventcollectionid"],
            "X-Wabridge-Conversation": conversation_id,
        }
        for name, value in roll_up.items():
            headers[name] = header_text(value, 10_000)
        body = transcript(title, roster, entries, built.bodies, self.ctx.zone)
        folder = self.ctx.out / RSMF_DIR / portable_name(conversation_id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{portable_name(conversation_id)}_{day}.rsmf"
        zip_tmp = target.with_name(target.name + ".zip.part")
        try:
            write_zip(zip_tmp, built, media, begin)
            digest = json.dumps(manifest, sort_keys=True, ensure_ascii=True)
            write_rsmf(target, headers, body, zip_tmp, boundary_for(digest))
        finally:
            zip_tmp.unlink(missing_ok=True)
        rel = target.relative_to(self.ctx.out).as_posix()
        self.problems += [f"{rel}: {p}" for p in check_file(target)]
        self.files.append(
            {
                "path": rel,
                "conversation": conversation_id,
                "day": day,
                "events": len(events),
                "attachments": len(built.members),
                "eventcollectionid": manifest["eventcollectionid"],
            }
        )

    def _guard(self, entry: Entry, render, fallback):
        return self.ctx.guard(entry, render, fallback)

    async def finish(self) -> dict[str, Any]:
        self.ctx.media.discard()  # the media are inside the files now
        return {"rsmf_files": self.files, "problems": self.problems}
