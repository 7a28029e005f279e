"""The manifest of an export: every file with its sha256, so the recipient can check it.

``manifest.json`` holds the details (what was selected, by whom, which media were unavailable);
``SHA256SUMS`` is the same list in the format ``sha256sum -c SHA256SUMS`` checks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(out: Path, details: dict[str, Any]) -> Path:
    """List every file under ``out`` (but the manifest files) with size and sha256."""
    files = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel in (MANIFEST, SUMS):
            continue
        files.append({"path": rel, "size": path.stat().st_size, "sha256": file_sha256(path)})
    manifest = {**details, "files": files}
    target = out / MANIFEST
    target.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    (out / SUMS).write_text("".join(f"{f['sha256']}  {f['path']}\n" for f in files))
    return target


def check_export(out: Path) -> list[str]:
    """Problems found re-checking an export against its manifest (empty if it is intact)."""
    manifest = json.loads((out / MANIFEST).read_text())
    problems = []
    listed = set()
    for item in manifest["files"]:
        listed.add(item["path"])
        path = out / item["path"]
        if not path.is_file():
            problems.append(f"missing: {item['path']}")
        elif file_sha256(path) != item["sha256"]:
            problems.append(f"altered: {item['path']}")
    for path in out.rglob("*"):
        rel = path.relative_to(out).as_posix()
        if path.is_file() and rel not in listed and rel not in (MANIFEST, SUMS):
            problems.append(f"not in manifest: {rel}")
    return problems
