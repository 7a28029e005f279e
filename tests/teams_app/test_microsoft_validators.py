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
    NODE_MODULES
    / "@microsoft"
    / "app-manifest"
    / "build"
    / "json-schemas"
    / "teams"
    / f"v{SCHEMA_VERSION}"
    / "MicrosoftTeams.schema.json"
)


def _require(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/test, which installs tools/package.json")


def _atk_validate(manifest: Path) -> subprocess.CompletedProcess:
    # --manifest-file validates offline; --package-file would sign in to the Teams portal.
    return subprocess.run(
        [
            str(ATK),
            "validate",
            "--manifest-file",
            str(manifest),
            "--telemetry",
            "false",
            "--interactive",
            "false",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=manifest.parent,
    )


def test_atk_validate_accepts_the_built_package_and_refuses_broken_ones(tmp_path, package):
    _require(ATK)
    good = tmp_path / "good"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(good)
    manifest = json.loads((good / "manifest.json").read_text())

    def broken(name: str, change) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        copy = json.loads(json.dumps(manifest))
        change(copy)
        (folder / "manifest.json").write_text(json.dumps(copy))
        return folder / "manifest.json"

    wrong_bot_id = broken("bot-id", lambda m: m["bots"][0].update(botId="wabridge-bot"))
    bad_scope = broken("scope", lambda m: m["bots"][0].update(scopes=["team", "channel"]))

    with ThreadPoolExecutor(3) as pool:
        good_run, bot_id_run, scope_run = pool.map(
            _atk_validate, [good / "manifest.json", wrong_bot_id, bad_scope]
        )

    assert good_run.returncode == 0, good_run.stdout + good_run.stderr
    assert "All passed" in good_run.stdout
    assert bot_id_run.returncode != 0
    assert "/bots/0/botId must match pattern" in bot_id_run.stdout + bot_id_run.stderr
    assert scope_run.returncode != 0
    assert "channel" in scope_run.stdout + scope_run.stderr


def test_shipped_schema_is_microsofts_unchanged():
    _require(NPM_SCHEMA)
    shipped = REPO / "bot" / "teams_app" / "schema" / "MicrosoftTeams.schema.json"
    assert shipped.read_bytes() == NPM_SCHEMA.read_bytes()
    template = json.loads((REPO / "manifest" / "manifest.template.json").read_text())
    assert template["manifestVersion"] == SCHEMA_VERSION
    assert f"/v{SCHEMA_VERSION}/" in template["$schema"]
