"""A non-editable install (a wheel) carries the template, icons and schema, and
`wabridge manifest build` works from it in any working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

from tests.teams_app.conftest import APP_ID, BOT_ID, DOMAIN, REPO


def test_wheel_ships_manifest_files_and_builds_a_valid_package(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("wabridge-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for name in ("manifest.template.json", "color.png", "outline.png"):
        assert f"bot/teams_app/template/{name}" in names
    assert "bot/teams_app/schema/MicrosoftTeams.schema.json" in names
    assert "bot/teams_app/schema/NOTICE.md" in names

    # Unpack the wheel as site-packages would hold it, put it first on the path and run the
    # CLI from an unrelated directory: the checkout's manifest/ must not be needed.
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import sys, bot.teams_app.resources as r, bot.cli as c;"
        "print(r.template_dir());"
        "sys.exit(c.main(sys.argv[1:]))"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "manifest",
            "build",
            "--app-id",
            APP_ID,
            "--bot-id",
            BOT_ID,
            "--domain",
            DOMAIN,
            "--out",
            "app.zip",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == str(site / "bot" / "teams_app" / "template")
    with zipfile.ZipFile(work / "app.zip") as archive:
        assert json.loads(archive.read("manifest.json"))["bots"][0]["botId"] == BOT_ID
