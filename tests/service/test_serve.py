"""`wabridge serve`: fails closed without configuration; dev mode starts; health routes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support.processes import Service, clean_env, wabridge


def test_serve_without_configuration_refuses_and_names_every_missing_variable(tmp_path):
    result = wabridge("serve", cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    for var in (
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "WHATSAPP_ACCESS_TOKEN",
        "WHATSAPP_PHONE_NUMBER_ID",
        "MicrosoftAppId",
        "MicrosoftAppPassword",
    ):
        assert var in message
    assert not (tmp_path / "archive").exists()


def test_serve_reads_a_dotenv_file_in_the_working_directory(tmp_path):
    (tmp_path / ".env").write_text("WHATSAPP_APP_SECRET=from-dotenv\nWHATSAPP_VERIFY_TOKEN='x'\n")
    result = wabridge("serve", cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert "WHATSAPP_APP_SECRET" not in result.stderr
    assert "WHATSAPP_VERIFY_TOKEN" not in result.stderr
    assert "WHATSAPP_ACCESS_TOKEN" in result.stderr


@pytest.fixture
def dev_service(tmp_path):
    service = Service(tmp_path, clean_env(WABRIDGE_DEV_MODE="1")).start()
    yield service
    service.stop()


def test_dev_mode_starts_and_answers_health_and_readiness(dev_service, tmp_path):
    with urllib.request.urlopen(dev_service.url + "/healthz", timeout=5) as resp:
        assert resp.status == 200
        assert json.load(resp)["status"] == "ok"
    with urllib.request.urlopen(dev_service.url + "/readyz", timeout=5) as resp:
        assert resp.status == 200
    assert (tmp_path / "archive").is_dir()  # the embedded default, created at start-up


def test_readyz_is_503_when_the_archive_is_unreachable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    service = Service(
        tmp_path, clean_env(WABRIDGE_DEV_MODE="1", ARCHIVE_URL=str(blocker / "a"))
    ).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(service.url + "/readyz", timeout=5)
        assert err.value.code == 503
    finally:
        service.stop()
