"""What every export writer shares: where it writes, the zone, the media, and what went wrong.

A record a writer cannot render never stops the export: :meth:`ExportContext.guard` shows a
placeholder in its place, notes the record and why, and at the end its stored bytes are copied
unchanged into ``unrendered/<record id>.json`` and listed in the manifest, so the export is
complete even then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bridge.archive import Archive
from bridge.errors import RecordNotFound
from bridge.readside.export.media import MediaCopier
from bridge.readside.export.naming import portable_name
from bridge.readside.export.zone import Zone

log = logging.getLogger("wabridge.export")
UNRENDERED_DIR = "unrendered"
T = TypeVar("T")


@dataclass
class ExportContext:
    archive: Archive
    out: Path
    zone: Zone
    media: MediaCopier
    business_name: str | None = None
    #: record id -> archive name, of the conversation being written (to copy a failed one).
    names: dict[str, str] = field(default_factory=dict)
    #: ``{id, reason}`` of each record not rendered as such (and its archive name).
    not_rendered: list[dict[str, Any]] = field(default_factory=list)

    def failed(self, records: list[dict[str, Any]] | list[str], exc: BaseException | str) -> None:
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        log.warning("export: %d record(s) not rendered: %s", len(records), reason)
        seen = {item["id"] for item in self.not_rendered}
        for record in records:
            rid = record if isinstance(record, str) else record["id"]
            if rid not in seen:
                self.not_rendered.append({"id": rid, "reason": reason, "name": self.names.get(rid)})
                seen.add(rid)

    def guard(self, entry: Any, render: Callable[[Any], T], fallback: Callable[[Any], T]) -> T:
        """``render(entry)``, or ``fallback(entry)`` with the entry's records noted if it fails."""
        try:
            return render(entry)
        except Exception as exc:  # any fault of one record must not stop the export
            self.failed(entry.records, exc)
            return fallback(entry)

    async def copy_unrendered(self) -> list[dict[str, str]]:
        """Copy each record not rendered, as stored, under ``unrendered/``; the manifest list."""
        out = []
        for item in self.not_rendered:
            name = item["name"]
            target = self.out / UNRENDERED_DIR / (portable_name(item["id"]) + ".json")
            entry = {"id": item["id"], "reason": item["reason"], "file": None}
            if name is not None:
                try:
                    data = await self.archive.store.read(name)
                except RecordNotFound:
                    data = None
                if data is not None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    entry["file"] = target.relative_to(self.out).as_posix()
            out.append(entry)
        return out
