"""One typed Settings for every variable, and one answer to a bad value: its name, exit 2."""

from __future__ import annotations

import pytest

from bot.settings import ConfigError, Settings
from tests.support.processes import clean_env, wabridge

DEV = {"WABRIDGE_DEV_MODE": "1"}

BAD_VALUES = [
    ("PORT", "http"),
    ("PORT", "70000"),
    ("MicrosoftAppType", "Personal"),
    ("WABRIDGE_DEV_MODE", "yes"),
    ("WABRIDGE_MAX_INFLIGHT_DELIVERIES", "0"),
    ("WABRIDGE_MAX_INFLIGHT_DELIVERIES", "many"),
    ("WABRIDGE_MEDIA_QUICK_SECONDS", "soon"),
    ("WABRIDGE_MEDIA_RETRY_SECONDS", "-1"),
    ("WABRIDGE_MEDIA_RETRY_CAP_SECONDS", "inf"),
    ("WABRIDGE_MEDIA_POLL_SECONDS", "nan"),
    ("WABRIDGE_MEDIA_LEASE_SECONDS", "10m"),
    ("WABRIDGE_RELAY_POLL_SECONDS", "0"),
    ("WABRIDGE_SEND_RETRY_SECONDS", "x"),
    ("WABRIDGE_REGISTRY_CACHE_SECONDS", "-3"),
    ("WABRIDGE_USERS_SYNC_INTERVAL", "30"),
    ("WABRIDGE_USERS_SYNC_MANAGED_IDENTITY", "true"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_bad_value_is_refused_naming_its_variable(name, value):
    env = {**DEV, name: value} if name != "WABRIDGE_DEV_MODE" else {name: value}
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    assert name in str(refused.value) and repr(value) in str(refused.value)
    assert "\n" not in str(refused.value)


def test_every_variable_reaches_its_typed_setting():
    settings = Settings.from_env(
        {
            **DEV,
            "WABRIDGE_MAX_INFLIGHT_DELIVERIES": "7",
            "WABRIDGE_MEDIA_QUICK_SECONDS": "0.5",
            "WABRIDGE_MEDIA_RETRY_SECONDS": "1",
            "WABRIDGE_MEDIA_RETRY_CAP_SECONDS": "60",
            "WABRIDGE_MEDIA_POLL_SECONDS": "0.2",
            "WABRIDGE_MEDIA_LEASE_SECONDS": "30",
            "WABRIDGE_TEMPLATES_FILE": "/etc/wabridge/templates.toml",
            "WABRIDGE_PUBLIC_URL": "https://bridge.contoso.example/",
            "WABRIDGE_RELAY_POLL_SECONDS": "0.5",
            "WABRIDGE_SEND_RETRY_SECONDS": "0.25",
            "WABRIDGE_REGISTRY_CACHE_SECONDS": "0",
            "WABRIDGE_USERS_SYNC_GROUP": "grp",
            "WABRIDGE_USERS_SYNC_INTERVAL": "600",
            "WABRIDGE_USERS_SYNC_MANAGED_IDENTITY": "1",
            "AZURE_CLIENT_ID": "client",
            "WABRIDGE_INDEX_DIR": "/var/cache/wabridge",
            "GRAPH_URL": "https://graph.example/v1.0/",
        }
    )
    assert settings.webhook.max_inflight == 7
    media = settings.media
    assert (media.quick_budget, media.retry_base, media.retry_cap) == (0.5, 1, 60)
    assert (media.poll_interval, media.lease) == (0.2, 30)
    relay = settings.relay
    assert relay.templates_file == "/etc/wabridge/templates.toml"
    assert settings.public_url() == "https://bridge.contoso.example"
    assert (relay.poll_seconds, relay.send_retry_seconds) == (0.5, 0.25)
    governance = settings.governance
    assert (governance.registry_cache_seconds, governance.sync_group) == (0, "grp")
    assert governance.sync_interval == 600
    assert governance.credentials.managed_identity and governance.credentials.client_id == "client"
    assert settings.archive.index_dir == "/var/cache/wabridge"
    assert settings.ms_graph_url == "https://graph.example/v1.0"
    assert "s3cret" not in repr(Settings.from_env({**DEV, "AZURE_CLIENT_SECRET": "s3cret"}))


def test_serve_with_a_bad_value_exits_2_with_one_line_naming_it(tmp_path):
    result = wabridge(
        "serve",
        cwd=tmp_path,
        timeout=60,
        env=clean_env(WABRIDGE_DEV_MODE="1", WABRIDGE_MEDIA_POLL_SECONDS="often"),
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        "wabridge: WABRIDGE_MEDIA_POLL_SECONDS must be a number of seconds, not 'often'"
    )
    assert not (tmp_path / "archive").exists()
