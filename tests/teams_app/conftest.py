"""Fixtures for the Teams app package tests: a freshly built package and ways to break it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from bot.teams_app.build import PackageParams, build_package

REPO = Path(__file__).resolve().parents[2]
APP_ID = "0d5b4c5e-6a1f-4e55-9c2a-1f3e6b7a8c90"
BOT_ID = "7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
DOMAIN = "wabridge-contoso.azurewebsites.net"


@pytest.fixture
def params() -> PackageParams:
    return PackageParams(app_id=APP_ID, bot_id=BOT_ID, domain=DOMAIN, version="1.2.3")


@pytest.fixture
def package(tmp_path: Path, params: PackageParams) -> Path:
    out = tmp_path / "app.zip"
    build_package(params, out)
    return out


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def rewrite_manifest(package: Path, out: Path, change) -> Path:
    """A copy of ``package`` whose manifest went through ``change(manifest)``."""
    files = read_zip(package)
    manifest = json.loads(files["manifest.json"])
    change(manifest)
    files["manifest.json"] = json.dumps(manifest).encode()
    return write_zip(out, files)
