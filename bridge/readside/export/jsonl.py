"""JSONL export: the records exactly as stored, one per line (as ``search --json`` prints them),
with their media files beside them."""

from __future__ import annotations

import json
from typing import Any

from bridge.readside.export.context import ExportContext
from bridge.readside.export.shape import BadRecord, clean_doc

RECORDS_FILE = "records.jsonl"


class JsonlWriter:
    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx
        self._fh = (ctx.out / RECORDS_FILE).open("wb")

    async def add(self, record_id: str, data: bytes) -> None:
        if b"\n" in data or b"\r" in data:
            # Not canonical JSON (which has no line break): it would break the line format.
            self.ctx.failed([record_id], "the stored record contains a line break")
            return
        self._fh.write(data + b"\n")
        try:
            doc = clean_doc(json.loads(data))
        except (ValueError, BadRecord):
            return  # written as stored; it names no media that could be read
        for att in doc["attachments"]:
            await self.ctx.media.attachment(att, doc["id"])

    async def finish(self) -> dict[str, Any]:
        self._fh.close()
        return {"records_file": RECORDS_FILE}
