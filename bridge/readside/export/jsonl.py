"""JSONL export: the records exactly as stored, one per line (as ``search --json`` prints them),
with their media files beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.readside.export.media import MediaCopier

RECORDS_FILE = "records.jsonl"


class JsonlWriter:
    def __init__(self, out: Path, media: MediaCopier) -> None:
        self._media = media
        self._fh = (out / RECORDS_FILE).open("wb")

    async def add(self, doc: dict[str, Any], data: bytes) -> None:
        self._fh.write(data + b"\n")
        for att in doc.get("attachments") or []:
            await self._media.fetch(att.get("sha256"), doc["id"])

    async def finish(self) -> dict[str, Any]:
        self._fh.close()
        return {"records_file": RECORDS_FILE}
