"""Tamper evidence: check every record against its own hash and against the ledger, and the
ledger against the checkpoints kept outside the archive (:mod:`bridge.anchor`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.anchor.check import Finding, load_anchor_check
from bridge.anchor.protection import describe_protection
from bridge.anchor.store import AnchorStore
from bridge.archive import Archive
from bridge.errors import ArchiveError, RecordNotFound
from bridge.ids import LEDGER_PREFIX, media_blob_name, state_blob_name
from bridge.record import canonical_json, parse_rfc3339, record_sha256

#: A record this recent may still be waiting for its ledger entry (group commit in flight).
IN_FLIGHT = timedelta(seconds=60)


@dataclass(frozen=True)
class Problem:
    """One finding of ``archive verify``."""

    #: altered | removed | inserted | ledger-broken | malformed | media-altered | media-pending
    #: | ledger-missing | ledger-truncated | ledger-rewritten | ledger-inserted
    #: | checkpoint-unreadable | checkpoint-altered | checkpoint-foreign | archive-identity
    #: | protection (a warning) | in-flight (a warning)
    kind: str
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
    #: Warnings on what the result can prove: no checkpoint to check against, storage that does
    #: not show (or has no) immutability. Printed with the warnings; never a failure.
    caveats: list[Problem] = field(default_factory=list)
    #: Checkpoints the archive was checked against, and the newest one's time.
    checkpoints: int = 0
    newest_checkpoint: str | None = None
    #: Records no checkpoint could hold yet (written after the newest, or within its lag).
    not_anchored: int = 0
    #: Lines that say what was checked and what protects the bytes.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_archive(
    archive: Archive,
    *,
    check_media: bool = True,
    anchor: AnchorStore | None = None,
    checkpoint_files: Sequence[Path] = (),
) -> VerifyReport:
    """Compare every record with its own ``sha256`` and with the ledger, the ledger with every
    checkpoint of ``anchor`` and of ``checkpoint_files``; check media hashes."""
    report = VerifyReport()
    store = archive.store
    anchored = await load_anchor_check(store, anchor, checkpoint_files)
    report.problems += [_problem(f) for f in anchored.findings]
    report.checkpoints = anchored.count
    report.notes += anchored.notes
    ledger: dict[str, dict[str, str]] = {}  # name -> {sha256: record_id}
    async for info in store.list(LEDGER_PREFIX):
        segment = anchored.observe(info.name, await store.read(info.name))
        report.segments += 1
        report.ledger_entries += len(segment.entries)
        broken_at = segment.broken_at or (len(segment.entries) + 1 if segment.partial else None)
        if broken_at is not None:
            report.problems.append(
                Problem(
                    "ledger-broken",
                    info.name,
                    None,
                    f"hash chain broken at line {broken_at}: the ledger was altered",
                )
            )
        for entry in segment.entries:
            ledger.setdefault(entry.name, {})[entry.sha256] = entry.record_id
    before = len(anchored.findings)
    anchored.finish()
    report.problems += [_problem(f) for f in anchored.findings[before:]]

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
        finding = anchored.check_record(name, stored_sha, record_id, doc.get("captured_at"))
        if finding is not None:
            report.problems.append(_problem(finding))
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

    report.not_anchored = anchored.not_anchored
    newest = anchored.newest
    if newest is not None:
        report.newest_checkpoint = newest[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    _describe_anchoring(report, anchor, checkpoint_files)
    for label, where in (
        ("archive container", store),
        ("anchor container", anchor and anchor.store),
    ):
        if where is not None:
            protection = await describe_protection(where, label)
            report.notes += protection.lines
            report.caveats += [Problem(k, n, None, d) for k, n, d in protection.warnings]
    return report


def _problem(finding: Finding) -> Problem:
    return Problem(finding.kind, finding.name, finding.record_id, finding.detail)


def _describe_anchoring(
    report: VerifyReport, anchor: AnchorStore | None, files: Sequence[Path]
) -> None:
    sources = ([anchor.description] if anchor is not None else []) + [str(f) for f in files]
    if not sources:
        report.caveats.append(
            Problem(
                "no-checkpoint",
                "ledger",
                None,
                "no anchor configured: nothing outside the archive vouches for the ledger, so a "
                "rewrite of records and ledger together would pass (set WABRIDGE_ANCHOR_URL, give "
                "--anchor or --checkpoint FILE)",
            )
        )
        return
    if report.checkpoints == 0:
        report.caveats.append(
            Problem(
                "no-checkpoint",
                " and ".join(sources),
                None,
                "holds no usable checkpoint: nothing outside the archive vouches for the ledger yet",
            )
        )
        return
    report.notes.append(
        f"checkpoints: {report.checkpoints} from {' and '.join(sources)}; newest "
        f"{report.newest_checkpoint}"
    )


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
