"""Microsoft's own tools agree: `atk validate` (M365 Agents Toolkit CLI) accepts the built package
and refuses a broken one; the schema we ship is the one in Microsoft's npm package."""

from __future__ import annotations

import json
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.teams_app.resources import SCHEMA_VERSION
from tests.teams_app.conftest import REPO

NODE_MODULES = REPO / "tools" / "node_modules"
ATK = NODE_MODULES / ".bin" / "atk"
NPM_SCHEMA = (
    NODE_MODULES / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"
    / f"v{SCHEMA_VERSION}" / "MicrosoftTeams.schema.json"
)


def _require(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/test, which installs tools/package.json")


def _atk_validate(manifest: Path) -> subprocess.CompletedProcess:
    # --manifest-file validates offline; --package-file would sign in to the Teams portal.
    return subprocess.run(
        [str(ATK), "validate", "--manifest-file", str(manifest), "--telemetry", "false",
         "--interactive", "false"],
        capture_output=True, text=True, timeout=300, cwd=manifest.parent,
    )


def test_atk_validate_accepts_the_built_package_and_refuses_a_wrong_bot_id(tmp_path, package):
    _require(ATK)
    good = tmp_path / "good"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(good)
    bad = tmp_path / "bad"
    bad.mkdir()
    manifest = json.loads((good / "manifest.json").read_text())
    manifest["bots"][0]["botId"] = "wabridge-bot"
    (bad / "manifest.json").write_text(json.dumps(manifest))

    with ThreadPoolExecutor(2) as pool:
        good_run, bad_run = pool.map(_atk_validate, [good / "manifest.json", bad / "manifest.json"])

    assert good_run.returncode == 0, good_run.stdout + good_run.stderr
    assert "All passed" in good_run.stdout
    assert bad_run.returncode != 0
    assert "/bots/0/botId must match pattern" in bad_run.stdout + bad_run.stderr


def test_shipped_schema_is_microsofts_unchanged():
    _require(NPM_SCHEMA)
    shipped = REPO / "bot" / "teams_app" / "schema" / "MicrosoftTeams.schema.json"
    assert shipped.read_bytes() == NPM_SCHEMA.read_bytes()
    template = json.loads((REPO / "manifest" / "manifest.template.json").read_text())
    assert template["manifestVersion"] == SCHEMA_VERSION
    assert f"/v{SCHEMA_VERSION}/" in template["$schema"]
