"""Tamper evidence: check every record against its own hash and against the ledger."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bridge.archive import Archive
from bridge.errors import ArchiveError, RecordNotFound
from bridge.ids import LEDGER_PREFIX, media_blob_name, state_blob_name
from bridge.ledger import parse_segment
from bridge.record import canonical_json, parse_rfc3339, record_sha256

#: A record this recent may still be waiting for its ledger entry (group commit in flight).
IN_FLIGHT = timedelta(seconds=60)


@dataclass(frozen=True)
class Problem:
    """One finding of ``archive verify``."""

    kind: str  # altered | removed | inserted | ledger-broken | malformed | media-missing | media-altered
    name: str
    record_id: str | None
    detail: str

    def line(self) -> str:
        rid = f" record {self.record_id}" if self.record_id else ""
        return f"{self.kind.upper()}:{rid} {self.name}: {self.detail}"


@dataclass
class VerifyReport:
    records: int = 0
    ledger_entries: int = 0
    segments: int = 0
    media_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_archive(archive: Archive, *, check_media: bool = True) -> VerifyReport:
    """Compare every record with its own ``sha256`` and with the ledger; check media hashes."""
    report = VerifyReport()
    store = archive.store
    ledger: dict[str, dict[str, str]] = {}  # name -> {sha256: record_id}
    async for info in store.list(LEDGER_PREFIX):
        segment = parse_segment(info.name, await store.read(info.name))
        report.segments += 1
        report.ledger_entries += len(segment.entries)
        if segment.broken_at is not None:
            report.problems.append(
                Problem(
                    "ledger-broken",
                    info.name,
                    None,
                    f"hash chain broken at line {segment.broken_at}: the ledger was altered",
                )
            )
        for entry in segment.entries:
            ledger.setdefault(entry.name, {})[entry.sha256] = entry.record_id

    seen: set[str] = set()
    media: dict[str, str] = {}  # sha256 -> record id naming it
    now = datetime.now(UTC)
    async for name, data in archive.iter_records():
        report.records += 1
        seen.add(name)
        try:
            doc = json.loads(data)
            stored_sha = doc["sha256"]
            record_id = doc.get("id")
        except (ValueError, KeyError, TypeError):
            report.problems.append(Problem("malformed", name, None, "not a valid record"))
            continue
        actual = record_sha256(doc)
        if actual != stored_sha or canonical_json(doc) != data:
            report.problems.append(
                Problem(
                    "altered",
                    name,
                    record_id,
                    "content does not match its sha256"
                    if actual != stored_sha
                    else "bytes are not the record's canonical form",
                )
            )
            continue
        known = ledger.get(name)
        if known is None:
            finding = Problem(
                "inserted", name, record_id, "not in the ledger: added after the fact"
            )
            if _recent(doc.get("captured_at"), now):
                report.warnings.append(
                    Problem("in-flight", name, record_id, "ledger entry not yet written")
                )
            else:
                report.problems.append(finding)
            continue
        if stored_sha not in known:
            report.problems.append(
                Problem(
                    "altered",
                    name,
                    record_id,
                    "sha256 differs from the one the ledger holds",
                )
            )
            continue
        for att in doc.get("attachments") or ():
            if att.get("sha256"):
                media.setdefault(att["sha256"], record_id)

    for name, shas in sorted(ledger.items()):
        if name not in seen:
            rid = next(iter(shas.values()))
            report.problems.append(Problem("removed", name, rid, "in the ledger but missing"))

    if check_media:
        for sha, record_id in sorted(media.items()):
            report.media_checked += 1
            problem = await _check_media(archive, sha, record_id)
            if problem is not None:
                (report.warnings if problem.kind == "media-pending" else report.problems).append(
                    problem
                )
    return report


async def _check_media(archive: Archive, sha: str, record_id: str) -> Problem | None:
    try:
        name = media_blob_name(sha)
    except ValueError:
        return Problem("malformed", sha, record_id, "attachment hash is not a sha256")
    digest = hashlib.sha256()
    try:
        async for chunk in archive.store.read_stream(name):
            digest.update(chunk)
    except RecordNotFound:
        return Problem(
            "media-pending",
            name,
            record_id,
            "media bytes not (yet) in the archive" + await _pending_note(archive, sha),
        )
    if digest.hexdigest() != sha:
        return Problem("media-altered", name, record_id, "media bytes do not match their sha256")
    return None


async def _pending_note(archive: Archive, sha: str) -> str:
    """What the media fetcher last noted about this hash (``state/media-pending/<sha>.json``)."""
    try:
        doc = await archive.store.get_doc(state_blob_name("media-pending", sha))
        pending = json.loads(doc.data) if doc is not None else None
    except (ArchiveError, ValueError):
        return ""
    if not isinstance(pending, dict):
        return "; no fetch pending"
    note = f"; fetch pending, {pending.get('attempts', 0)} attempt(s)"
    if pending.get("last_error"):
        note += f", last error: {pending['last_error']}"
    return note


def _recent(captured_at: str | None, now: datetime) -> bool:
    try:
        moment = parse_rfc3339(captured_at or "")
    except ValueError:
        return False
    return now - IN_FLIGHT <= moment <= now + timedelta(seconds=5)
