"""Export a selection of the archive as EML, HTML, JSONL or RSMF, with a manifest of every file.

The selection is pinned first (:mod:`bridge.readside.export.selection`); JSONL then streams it
in order; the other formats read it one conversation at a time, fold each conversation's records
into the events a reviewer reads (:mod:`bridge.readside.export.fold`) and write them. The same
query over the same archive gives the same files with the same bytes; only the manifest's
``created_at`` differs.
No record stops an export: one that cannot be rendered is listed in the manifest and copied
as stored under ``unrendered/``. An RSMF export checks every file it wrote
(:mod:`bridge.readside.export.rsmf_check`) and reports each problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.archive import Archive
from bridge.readside.export.context import ExportContext
from bridge.readside.export.eml import EmlWriter
from bridge.readside.export.fold import fold
from bridge.readside.export.html import HtmlWriter
from bridge.readside.export.jsonl import JsonlWriter
from bridge.readside.export.manifest import write_manifest
from bridge.readside.export.media import MediaCopier
from bridge.readside.export.parties import Roster
from bridge.readside.export.selection import Selection, records_of, survey
from bridge.readside.export.shape import BadRecord, clean_doc
from bridge.readside.export.zone import UnknownTimeZone, Zone
from bridge.readside.index import ArchiveIndex, Progress, iter_selection
from bridge.readside.query import RecordQuery
from bridge.record import now_rfc3339

FORMATS = ("eml", "html", "jsonl", "rsmf")


class ExportError(ValueError):
    """The export cannot start (bad format, output directory not empty, unknown zone)."""


@dataclass(frozen=True)
class ExportOptions:
    """``tz``: the IANA zone times are shown in (None: the machine's); ``business_name``: the
    firm's name shown for its WhatsApp business number."""

    tz: str | None = None
    business_name: str | None = None

    def zone(self) -> Zone:
        try:
            return Zone.resolve(self.tz)
        except UnknownTimeZone as exc:
            raise ExportError(str(exc)) from None


@dataclass
class ExportResult:
    format: str
    out: Path
    records: int = 0
    files: int = 0
    missing_media: dict[str, list[str]] = field(default_factory=dict)
    altered_media: dict[str, list[str]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    not_rendered: list[dict[str, Any]] = field(default_factory=list)
    #: Problems the RSMF check found in files this export wrote (empty: every file passed).
    rsmf_problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def prepare_out_dir(out: Path) -> Path:
    """``out`` created if needed; an existing non-empty directory is refused (never overwritten)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"--out {out} exists and is not an empty directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


async def export_selection(
    archive: Archive,
    index: ArchiveIndex,
    query: RecordQuery,
    fmt: str,
    out: Path,
    *,
    actor: dict[str, Any],
    progress: Progress | None = None,
    options: ExportOptions | None = None,
) -> ExportResult:
    """Write the records ``query`` selects into ``out`` as ``fmt``, then the manifest."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    options = options or ExportOptions()
    zone = options.zone()
    out = prepare_out_dir(out)
    await index.refresh(archive)
    selection = survey(index, query)
    media = MediaCopier(archive, out)
    ctx = ExportContext(archive, out, zone, media, business_name=options.business_name)
    result = ExportResult(fmt, out)
    if fmt == "jsonl":
        result.details = await _stream_jsonl(ctx, index, selection, result, progress)
    else:
        from bridge.readside.export.rsmf import (
            RsmfWriter,  # (lazily: rsmf_check also runs as a script)
        )

        writer: Any = {
            "eml": lambda: EmlWriter(ctx, index.source_id_of),
            "html": lambda: HtmlWriter(ctx),
            "rsmf": lambda: RsmfWriter(ctx),
        }[fmt]()
        await _by_conversation(ctx, index, selection, writer, result, progress)
        result.details = await writer.finish()
    result.rsmf_problems = list(result.details.pop("problems", []))
    result.not_rendered = await ctx.copy_unrendered()
    result.missing_media, result.altered_media = media.missing, media.altered
    manifest = write_manifest(
        out,
        {
            "format": fmt,
            "created_at": now_rfc3339(),
            "exported_by": actor,
            "query": query.describe(),
            "selection": selection.describe(),
            "time_zone": zone.name,
            "business_name": options.business_name,
            "records": result.records,
            **result.details,
            "rsmf_problems": result.rsmf_problems,
            "media_missing": [
                {"sha256": s, "records": r} for s, r in sorted(media.missing.items())
            ],
            "media_altered": [
                {"sha256": s, "records": r} for s, r in sorted(media.altered.items())
            ],
            "media_unhashed": [
                {"attachment": a, "records": r} for a, r in sorted(media.unhashed.items())
            ],
            "records_unreadable": result.unreadable,
            "records_not_rendered": result.not_rendered,
            "note": "media_missing lists attachments whose bytes are not (yet) in the archive "
            "(pending download); they are named by sha256 so they can be added later. "
            "records_not_rendered were copied as stored under unrendered/.",
        },
    )
    result.files = len(json.loads(manifest.read_text())["files"])
    return result


def _tick(result: ExportResult, selection: Selection, progress: Progress | None) -> None:
    result.records += 1
    if progress:
        progress(result.records, selection.total)


async def _stream_jsonl(
    ctx: ExportContext,
    index: ArchiveIndex,
    selection: Selection,
    result: ExportResult,
    progress: Progress | None,
) -> dict[str, Any]:
    writer = JsonlWriter(ctx)
    try:
        async for hit, data in iter_selection(ctx.archive, index, selection.query):
            if data is None:
                result.unreadable.append(hit.name)
                continue
            ctx.names = {hit.id: hit.name}
            await writer.add(hit.id, data)
            _tick(result, selection, progress)
    finally:
        details = await writer.finish()
    return details


async def _by_conversation(
    ctx: ExportContext,
    index: ArchiveIndex,
    selection: Selection,
    writer: Any,
    result: ExportResult,
    progress: Progress | None,
) -> None:
    for conversation in selection.groups:
        ctx.names = {}
        docs = []
        async for hit, data in records_of(ctx.archive, index, selection, conversation):
            if data is None:
                result.unreadable.append(hit.name)
                continue
            ctx.names[hit.id] = hit.name
            try:
                docs.append(clean_doc(json.loads(data)))
            except (ValueError, BadRecord) as exc:
                ctx.failed([hit.id], exc)
            _tick(result, selection, progress)
        if not docs:
            continue
        roster = Roster(conversation, business_name=ctx.business_name)
        try:
            for doc in docs:
                roster.observe(doc)
            await writer.conversation(roster, fold(docs))
        except Exception as exc:  # one conversation's fault must not stop the rest
            ctx.failed(docs, exc)
