"""The Dockerfile: read statically here (this machine has no Docker engine); built and run where
one is available and WABRIDGE_DOCKER_TESTS=1."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import tomllib
import urllib.request
import uuid
from fnmatch import fnmatch

import pytest

from tests.deploy.checkov_runner import REPO

DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def test_slim_python_base_and_a_non_root_user_at_run_time():
    bases = [rest.split()[0] for keyword, rest in _instructions() if keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases)
    users = [rest for keyword, rest in _final_stage() if keyword == "USER"]
    assert users, "the image must not run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert re.search(rf"useradd .*--uid {user}\b", DOCKERFILE.read_text())


def test_runs_wabridge_serve_with_a_healthcheck_on_healthz():
    final = dict(_final_stage())
    assert final["CMD"] == '["wabridge", "serve"]'
    assert "/healthz" in final["HEALTHCHECK"]
    assert "WABRIDGE_DEV_MODE" not in DOCKERFILE.read_text()


def test_copies_everything_the_package_build_needs_and_nothing_ignored():
    copied = set()
    for keyword, rest in _instructions():
        if keyword == "COPY" and "--from" not in rest:
            copied.update(rest.split()[:-1])
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = {"pyproject.toml", "setup.py", project["project"]["readme"], "manifest"}
    needed |= {
        pattern.rstrip("*")
        for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert needed <= copied, needed - copied
    for source in copied:
        assert (REPO / source).exists(), source
    ignored = [
        p.strip()
        for p in (REPO / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    for source in copied:
        assert not any(fnmatch(source, pattern) for pattern in ignored), source
    for secret_like in (".env", ".venv", "archive", "tools/node_modules"):
        assert any(fnmatch(secret_like, pattern) for pattern in ignored), secret_like


def _docker_usable() -> bool:
    if os.environ.get("WABRIDGE_DOCKER_TESTS") != "1" or not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.skipif(
    not _docker_usable(), reason="needs a Docker engine and WABRIDGE_DOCKER_TESTS=1"
)
def test_image_builds_and_serves_healthz(tmp_path):
    tag = f"wabridge-test:{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "build", "-t", tag, str(REPO)], check=True, timeout=1200)
    name = f"wabridge-test-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                name,
                "-p",
                "127.0.0.1::3978",
                "-e",
                "WABRIDGE_DEV_MODE=1",
                tag,
            ],
            check=True,
            capture_output=True,
        )
        port = (
            subprocess.run(
                ["docker", "port", name, "3978"], check=True, capture_output=True, text=True
            )
            .stdout.strip()
            .rsplit(":", 1)[1]
        )
        user = subprocess.run(
            ["docker", "exec", name, "id", "-u"], capture_output=True, text=True
        ).stdout.strip()
        assert user == "10001"
        for _ in range(60):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("wabridge serve in the container never answered /healthz")
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
