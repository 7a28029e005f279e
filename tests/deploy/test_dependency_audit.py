"""pip-audit finds no known vulnerability in any locked dependency.

pip-audit's own sources of advisories (PyPI's per-release JSON, OSV, ecosyste.ms) are out of
reach from a network that reaches only the package registries' project pages, so pip-audit is
pointed (``--vulnerability-service osv --osv-url``) at tests/support/pypi_advisories.py, which
answers from PyPI's project JSON: exact for a pin that is its project's newest release; for a
pin behind it, the advisories still open on the newest release (the test warns, naming each
such pin: ``scripts/lock --upgrade`` makes the audit exact again).
"""

from __future__ import annotations

import asyncio
import json
import sys
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from packaging.markers import Marker

from tests.deploy.checkov_runner import REPO
from tests.deploy.test_locks import DEV_LOCK, RUNTIME_LOCK, pins
from tests.support.azurite import free_port
from tests.support.pypi_advisories import PYPI, PypiAdvisories

PIP_AUDIT = Path(sys.executable).parent / "pip-audit"


@asynccontextmanager
async def _serving(app: web.Application) -> AsyncIterator[str]:
    """``http://127.0.0.1:PORT`` serving ``app`` until the block ends."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _audit(
    locks: list[Path], advisories: PypiAdvisories, cache: Path
) -> tuple[int, dict | None, str]:
    """pip-audit's exit status, its JSON report (None when it printed none) and its stderr."""
    async with _serving(advisories.app()) as url:
        process = await asyncio.create_subprocess_exec(
            str(PIP_AUDIT),
            *(a for lock in locks for a in ("-r", str(lock))),
            "--require-hashes",
            "--disable-pip",
            "--no-deps",
            "--strict",
            "--vulnerability-service",
            "osv",
            "--osv-url",
            f"{url}/v1/query",
            "--cache-dir",
            str(cache),
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--desc",
            "on",
            "--aliases",
            "on",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    return process.returncode, report, err.decode()[-3000:]


def _findings(report: dict) -> list[str]:
    return [
        f"{d['name']} {d['version']}: {' '.join(sorted([v['id'], *v.get('aliases', [])]))} "
        f"(fixed in {', '.join(v['fix_versions']) or 'no release yet'})"
        for d in report["dependencies"]
        for v in d.get("vulns", [])
    ]


async def test_no_locked_dependency_has_a_known_vulnerability(tmp_path):
    locked = pins(DEV_LOCK)
    advisories = PypiAdvisories(PYPI)
    await advisories.fetch(locked)
    status, report, err = await _audit([DEV_LOCK, RUNTIME_LOCK], advisories, tmp_path / "cache")
    assert report is not None, err
    assert not _findings(report), "\n".join(_findings(report))
    assert status == 0, report
    # Every pin that applies here was looked up: nothing was skipped as unresolvable.
    applicable = {
        n for n, (_, marker, _) in locked.items() if not marker or Marker(marker).evaluate()
    }
    assert {name for name, _ in advisories.queried} == applicable
    assert {d["name"] for d in report["dependencies"]} == applicable
    assert not [d for d in report["dependencies"] if d.get("skip_reason")]
    if advisories.behind:
        warnings.warn(
            "audited only against the advisories open on the newest release (scripts/lock "
            "--upgrade, or a newer pin where pyproject.toml allows it, makes it exact): "
            + ", ".join(f"{n} {v} (newest {newest})" for n, v, newest in advisories.behind),
            stacklevel=1,
        )


def _fake_pypi(projects: dict[str, dict]) -> web.Application:
    async def project(request: web.Request) -> web.Response:
        doc = projects.get(request.match_info["name"])
        return web.json_response(doc) if doc else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/pypi/{name}/json", project)
    return app


def _lock(path: Path, entries: dict[str, str]) -> Path:
    path.write_text(
        "".join(
            f"{name}=={version} \\\n    --hash=sha256:{'0' * 64}\n"
            for name, version in entries.items()
        )
    )
    return path


def _project(newest: str, *advisories: dict) -> dict:
    return {"info": {"version": newest}, "vulnerabilities": list(advisories)}


ADVISORY = {
    "id": "PYSEC-2026-1",
    "aliases": ["CVE-2026-0001"],
    "summary": "request smuggling",
    "details": "",
    "fixed_in": ["2.1"],
    "withdrawn": None,
    "link": "",
    "source": "osv",
}


async def test_a_vulnerable_pin_fails_the_audit_naming_the_advisory_and_its_fix(tmp_path):
    projects = {
        "vulnerable": _project("2.0", ADVISORY),
        "behind": _project("3.0", {**ADVISORY, "id": "GHSA-open-on-newest", "fixed_in": []}),
        "withdrawn": _project("1.0", {**ADVISORY, "id": "PYSEC-2026-2", "withdrawn": "2026-01"}),
        "clean": _project("1.0"),
    }
    lock = _lock(
        tmp_path / "r.lock",
        {"vulnerable": "2.0", "behind": "2.5", "withdrawn": "1.0", "clean": "1.0"},
    )
    async with _serving(_fake_pypi(projects)) as pypi:
        advisories = PypiAdvisories(f"{pypi}/pypi")
        await advisories.fetch(pins(lock))
    status, report, err = await _audit([lock], advisories, tmp_path / "cache")
    assert status == 1 and report is not None, err
    assert sorted(_findings(report)) == [
        "behind 2.5: CVE-2026-0001 GHSA-open-on-newest (fixed in no release yet)",
        "vulnerable 2.0: CVE-2026-0001 PYSEC-2026-1 (fixed in 2.1)",
    ]
    assert advisories.behind == [("behind", "2.5", "3.0")]


async def test_a_project_pypi_does_not_know_stops_the_audit(tmp_path):
    async with _serving(_fake_pypi({"known": _project("1.0")})) as pypi:
        advisories = PypiAdvisories(f"{pypi}/pypi")
        with pytest.raises(RuntimeError, match="not-on-pypi/json answered 404"):
            await advisories.fetch(["known", "not-on-pypi"])
    # A pin whose project was not fetched is refused to pip-audit, never answered clean.
    lock = _lock(tmp_path / "r.lock", {"known": "1.0", "unfetched": "1.0"})
    status, report, err = await _audit([lock], advisories, tmp_path / "cache")
    assert status != 0 and report is None
    assert "503" in err
