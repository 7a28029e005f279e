"""Export a selection of the archive as EML, HTML or JSONL, with a manifest of every file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.archive import Archive
from bridge.readside.export.eml import EmlWriter
from bridge.readside.export.html import HtmlWriter
from bridge.readside.export.jsonl import JsonlWriter
from bridge.readside.export.manifest import write_manifest
from bridge.readside.export.media import MediaCopier
from bridge.readside.index import ArchiveIndex, Progress, iter_selection
from bridge.readside.query import RecordQuery
from bridge.record import now_rfc3339

FORMATS = ("eml", "html", "jsonl")


class ExportError(ValueError):
    """The export cannot start (bad format, output directory not empty)."""


@dataclass
class ExportResult:
    format: str
    out: Path
    records: int = 0
    files: int = 0
    missing_media: dict[str, list[str]] = field(default_factory=dict)
    altered_media: dict[str, list[str]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
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
) -> ExportResult:
    """Write the records ``query`` selects (in time order) into ``out`` as ``fmt``, then the
    manifest."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    out = prepare_out_dir(out)
    await index.refresh(archive)
    total = index.count(query)
    media = MediaCopier(archive, out)
    if fmt == "jsonl":
        writer: Any = JsonlWriter(out, media)
    elif fmt == "eml":
        writer = EmlWriter(out, media, index.source_id_of)
    else:
        writer = HtmlWriter(out, media)
    result = ExportResult(fmt, out)
    async for hit, data in iter_selection(archive, index, query):
        if data is None:
            result.unreadable.append(hit.name)
            continue
        await writer.add(json.loads(data), data)
        result.records += 1
        if progress:
            progress(result.records, total)
    result.details = await writer.finish()
    result.missing_media, result.altered_media = media.missing, media.altered
    manifest = write_manifest(
        out,
        {
            "format": fmt,
            "created_at": now_rfc3339(),
            "exported_by": actor,
            "query": query.describe(),
            "records": result.records,
            **result.details,
            "media_missing": [
                {"sha256": s, "records": r} for s, r in sorted(media.missing.items())
            ],
            "media_altered": [
                {"sha256": s, "records": r} for s, r in sorted(media.altered.items())
            ],
            "records_unreadable": result.unreadable,
            "note": "media_missing lists attachments whose bytes are not (yet) in the archive "
            "(pending download); they are named by sha256 so they can be added later.",
        },
    )
    result.files = len(json.loads(manifest.read_text())["files"])
    return result
