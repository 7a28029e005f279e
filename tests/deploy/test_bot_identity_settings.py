"""The app settings infra/ gives the web app are enough for `wabridge serve`: a user-assigned
managed identity needs no MicrosoftAppPassword, but botbuilder needs its tenant id."""

from __future__ import annotations

import pytest

from bot.settings import ConfigError, Settings

WHATSAPP = {
    "WHATSAPP_ACCESS_TOKEN": "token",
    "WHATSAPP_PHONE_NUMBER_ID": "1234567890",
    "WHATSAPP_APP_SECRET": "secret",
    "WHATSAPP_VERIFY_TOKEN": "verify",
}
MSI = {
    "MicrosoftAppType": "UserAssignedMSI",
    "MicrosoftAppId": "7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
    "MicrosoftAppTenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "ARCHIVE_URL": "https://stwabridge.blob.core.windows.net/archive",
    "AZURE_CLIENT_ID": "7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
}


def test_user_assigned_msi_needs_no_app_password():
    settings = Settings.from_env({**WHATSAPP, **MSI})
    assert settings.app_type == "UserAssignedMSI" and settings.app_password == ""
    assert settings.missing_secrets() == []


def test_user_assigned_msi_without_tenant_is_refused_naming_it():
    env = {**WHATSAPP, **MSI}
    del env["MicrosoftAppTenantId"]
    with pytest.raises(ConfigError, match="MicrosoftAppTenantId"):
        Settings.from_env(env)


def test_the_adapter_accepts_the_msi_configuration():
    from botbuilder.integration.aiohttp import ConfigurationServiceClientCredentialFactory

    settings = Settings.from_env({**WHATSAPP, **MSI})

    class Config:
        APP_TYPE = settings.app_type
        APP_ID = settings.app_id
        APP_TENANTID = settings.app_tenant_id

    ConfigurationServiceClientCredentialFactory(Config())  # raises when something is missing
