"""Governance at service start-up: the policy file, the warning, the scheduled sync."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.app import SERVICE, create_app
from bot.governance.sync import run_scheduled_sync
from bot.settings import ConfigError, Settings
from bridge.governance.registry import UserRegistry
from tests.fakes.ms_graph import make_users
from tests.governance.conftest import POLICY_FILE
from tests.support.processes import clean_env, wabridge


def _settings(tmp_path, **env) -> Settings:
    return Settings.from_env({"WABRIDGE_DEV_MODE": "1", "ARCHIVE_URL": str(tmp_path / "a"), **env})


def test_the_policy_file_is_loaded_into_the_gate(tmp_path):
    app = create_app(_settings(tmp_path, WABRIDGE_POLICY_FILE=str(POLICY_FILE)))
    assert app[SERVICE].gate.policy.version == "2026-11"


def test_without_a_policy_file_the_service_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="wabridge.governance"):
        app = create_app(_settings(tmp_path))
    assert app[SERVICE].gate.policy is None
    assert "WABRIDGE_POLICY_FILE is not set" in caplog.text


def test_a_bad_policy_file_stops_serve_naming_the_rule(tmp_path):
    bad = tmp_path / "policy.toml"
    bad.write_text(
        '[policy]\nversion = "1"\ntext = "t"\n\n[[rules]]\nname = "cards"\n'
        'pattern = "[0-9"\naction = "block"\nreason = "x"\n'
    )
    result = wabridge(
        "serve",
        cwd=tmp_path,
        timeout=60,
        env=clean_env(WABRIDGE_DEV_MODE="1", WABRIDGE_POLICY_FILE=str(bad)),
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("wabridge:")]
    assert len(lines) == 1
    assert f"{bad}:5: rule 'cards': invalid pattern" in lines[0]


def test_a_scheduled_sync_without_credentials_fails_at_start_up(tmp_path):
    with pytest.raises(ConfigError, match="AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET"):
        create_app(_settings(tmp_path, WABRIDGE_USERS_SYNC_GROUP="g"))


async def test_the_scheduled_sync_runs_and_survives_a_failure(archive, ms_graph, graph_directory):
    ms_graph.groups["grp"] = make_users(30)
    ms_graph.fail_page(0, status=500, times=None)  # Graph failing at first
    registry = UserRegistry(archive)
    stop = asyncio.Event()
    runs = []

    def directory():
        runs.append(1)
        if len(runs) == 2:
            ms_graph.failures.clear()  # Graph back for the second run
        return _Unclosed(graph_directory)

    task = asyncio.create_task(run_scheduled_sync(registry, directory, "grp", 0.01, stop))
    while len(await registry.users()) < 30:
        assert not task.done()
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert len(runs) >= 2


class _Unclosed:
    """The fixture's directory, left open for the next run (the fixture closes it)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def group_members(self, group_id):
        return await self.inner.group_members(group_id)

    async def close(self) -> None:
        """Left open: the fixture closes the directory it made."""
