"""Copy an export's media out of the archive, once per sha256, checking each hash."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from bridge.archive import Archive
from bridge.errors import RecordNotFound
from bridge.ids import media_blob_name

MEDIA_DIR = "media"


@dataclass
class MediaCopier:
    """Media bytes land in ``<out>/media/<sha256>``; missing or altered media is noted, not
    fatal."""

    archive: Archive
    out: Path
    copied: dict[str, Path] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)  # sha256 -> record ids
    altered: dict[str, list[str]] = field(default_factory=dict)
    #: Attachments the record names by no hash (so no bytes can be looked up): record ids.
    unhashed: dict[str, list[str]] = field(default_factory=dict)

    async def attachment(self, att: dict, record_id: str) -> Path | None:
        """The exported file of one attachment of a record (see :meth:`fetch`); one that the
        record names by no hash is noted under ``unhashed`` by its media id or file name."""
        if att.get("sha256"):
            return await self.fetch(att["sha256"], record_id)
        label = att.get("media_id") or att.get("filename") or "unnamed attachment"
        ids = self.unhashed.setdefault(str(label), [])
        if record_id not in ids:
            ids.append(record_id)
        return None

    async def fetch(self, sha256: str | None, record_id: str) -> Path | None:
        """The exported file of this media, or None (recorded as missing/altered) if unavailable."""
        if not sha256:
            return None
        if sha256 in self.copied:
            return self.copied[sha256]
        for problems in (self.missing, self.altered):
            if sha256 in problems:
                if record_id not in problems[sha256]:
                    problems[sha256].append(record_id)
                return None
        try:
            name = media_blob_name(sha256)
        except ValueError:
            self.missing.setdefault(sha256, []).append(record_id)
            return None
        target = self.out / MEDIA_DIR / sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        try:
            with target.open("wb") as fh:
                async for chunk in self.archive.store.read_stream(name):
                    digest.update(chunk)
                    await asyncio.to_thread(fh.write, chunk)
        except RecordNotFound:
            target.unlink(missing_ok=True)
            self.missing.setdefault(sha256, []).append(record_id)
            return None
        if digest.hexdigest() != sha256:
            target.unlink(missing_ok=True)
            self.altered.setdefault(sha256, []).append(record_id)
            return None
        self.copied[sha256] = target
        return target

    def discard(self) -> None:
        """Remove the copies (for formats that put the media inside their own files)."""
        media_dir = self.out / MEDIA_DIR
        if media_dir.exists():
            for path in media_dir.iterdir():
                path.unlink()
            media_dir.rmdir()
