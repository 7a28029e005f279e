"""The Dockerfile: read, linted with hadolint, and built into an image that serves /healthz.

The image is built with Debian's buildah (no Docker engine needed; chroot isolation) from the
Dockerfile as it is, on the base image scripts/setup.d/image-builder.sh put in buildah's store
(python:3.11-slim itself where its registry can be reached, else a stand-in of that name made
from Debian's packages). The build's pip trusts the certificate authorities this machine's pip
trusts, so that it reaches PyPI through whatever TLS proxy the machine has.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import tomllib
import urllib.request
import uuid
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.deploy.checkov_runner import REPO
from tests.support.azurite import free_port

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


def test_dependencies_come_from_the_lock_with_their_hashes():
    runs = [rest for keyword, rest in _instructions() if keyword == "RUN"]
    locked = [r for r in runs if "--require-hashes -r requirements.lock" in r]
    assert locked, "the image must install requirements.lock in hash-checking mode"
    source = [r for r in runs if re.search(r"pip install .*/src\b", r)]
    assert source and all("--no-deps" in r and "--no-build-isolation" in r for r in source), (
        "wabridge itself must be installed without resolving anything beyond the lock"
    )
    assert runs.index(locked[0]) < runs.index(source[0])


HADOLINT = Path(sys.executable).parent / "hadolint"


def _hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )


def test_hadolint_finds_nothing_to_fix(tmp_path):
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
    # The linter is awake: a Dockerfile with the usual mistakes is refused, rule by rule.
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM python:latest\nRUN cd /src && pip install wabridge\n")
    result = _hadolint(sloppy)
    assert result.returncode != 0
    assert {"DL3007", "DL3003", "DL3013"} <= set(re.findall(r"DL\d{4}", result.stdout))


def _buildah(*args: str, timeout: float = 120, check: bool = True) -> str:
    """buildah's standard output; when it fails, the test fails (``check``) or gets ""."""
    done = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        if check:
            pytest.fail(f"buildah {' '.join(args[:2])} failed:\n{done.stderr[-4000:]}")
        return ""
    return done.stdout.strip()


def _pip_trust(tmp_path: Path) -> list[str]:
    """Bind mounts that give the build's pip the CA bundle this machine's pip uses."""
    bundle = os.environ.get("PIP_CERT") or ssl.get_default_verify_paths().cafile
    if not bundle or not Path(bundle).is_file():
        return []
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\ncert = /etc/ssl/certs/host-ca-bundle.pem\n")
    return [
        "--volume",
        f"{conf}:/etc/pip.conf:ro",
        "--volume",
        f"{bundle}:/etc/ssl/certs/host-ca-bundle.pem:ro",
    ]


#: Ids of the intermediate images earlier builds left in buildah's store (its layer cache).
CACHE_RECORD = REPO / ".tools" / "image-test" / "layers.json"
#: The last cached layer worth keeping: the Dockerfile's install of requirements.lock.
CACHE_TAG = "localhost/wabridge-test-cache:locked-dependencies"
_STEP = re.compile(r"^\[\d+/\d+\] STEP \d+/\d+: (.*)$")
_LAYER = re.compile(r"^--> ([0-9a-f]{11,64})$")


def _layers(output: str) -> list[tuple[str, str]]:
    """(instruction, image id) of every step of a ``buildah bud --layers`` run."""
    steps, instruction = [], None
    for line in output.splitlines():
        if match := _STEP.match(line):
            instruction = match[1]
        elif (match := _LAYER.match(line)) and instruction is not None:
            steps.append((instruction, match[1]))
            instruction = None
    return steps


def _cache_dependencies(layers: list[tuple[str, str]]) -> list[str]:
    """Tag the layer of the locked install (CACHE_TAG), so that it and its parents outlive the
    image as the next build's cache; returns that chain of layers."""
    chain = []
    for instruction, layer in layers:
        chain.append(layer)
        if instruction.startswith("RUN") and "requirements.lock" in instruction:
            _buildah("tag", layer, CACHE_TAG)
            return chain
    return []


def _prune(keep: list[str], layers: list[tuple[str, str]]) -> None:
    """Remove the images of the source steps, of this build and of earlier ones, and earlier
    caches of the locked install; only images these builds made are touched."""
    seen = set(json.loads(CACHE_RECORD.read_text())) if CACHE_RECORD.exists() else set()
    doomed = (seen | {layer for _, layer in layers}) - set(keep)
    while doomed:  # children before parents: go round until a round removes nothing
        for layer in doomed:
            _buildah("rmi", layer, check=False)
        stored = _buildah("images", "--all", "--quiet", check=False).split()
        left = {i for i in doomed if any(s.startswith(i) for s in stored)}
        if left == doomed:
            break
        doomed = left
    CACHE_RECORD.parent.mkdir(parents=True, exist_ok=True)
    CACHE_RECORD.write_text(json.dumps(sorted(set(keep) | doomed)))


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The image built from the Dockerfile, and a working container of it."""
    if not shutil.which("buildah"):
        pytest.fail("buildah is not installed: scripts/setup.d/image-builder.sh installs it")
    base = _buildah("images", "--quiet", "docker.io/library/python:3.11-slim", check=False)
    if not base:
        pytest.fail("no python:3.11-slim in buildah's store: run scripts/setup.d/image-builder.sh")
    tag = f"localhost/wabridge-test:{uuid.uuid4().hex[:8]}"
    output = _buildah(
        "bud",
        "--isolation",
        "chroot",
        "--pull=never",
        "--layers",
        "--force-rm",
        "--format",
        "docker",
        *_pip_trust(tmp_path_factory.mktemp("pip")),
        "--tag",
        tag,
        "--file",
        str(DOCKERFILE),
        str(REPO),
        timeout=1200,
    )
    layers = _layers(output)
    keep = _cache_dependencies(layers)
    container = _buildah("from", "--pull=never", tag)
    try:
        yield tag, container
    finally:
        _buildah("rm", container, check=False)
        _buildah("rmi", tag, check=False)
        _prune(keep, layers)


@pytest.mark.timeout(1500)
def test_image_builds_runs_as_its_user_and_serves_healthz(image):
    tag, container = image
    config = json.loads(_buildah("inspect", "--type", "image", tag))["Docker"]["config"]
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["wabridge", "serve"]
    assert _buildah("run", "--isolation", "chroot", container, "--", "id", "-u") == "10001"
    port = free_port()
    env = ["--env", "WABRIDGE_DEV_MODE=1", "--env", "HOST=127.0.0.1", "--env", f"PORT={port}"]
    server = subprocess.Popen(
        ["buildah", "run", "--isolation", "chroot", *env, container, "--", *config["Cmd"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"wabridge serve in the image never answered /healthz:\n"
                        f"{server.communicate(timeout=10)[0][-3000:]}"
                    )
                time.sleep(0.5)
        check = config["Healthcheck"]["Test"]
        assert check[0] == "CMD"
        probe = subprocess.run(
            ["buildah", "run", "--isolation", "chroot", *env, container, "--", *check[1:]],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 0, probe.stderr  # the image's own HEALTHCHECK passes
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
