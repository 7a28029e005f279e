"""infra/ read as text: the app settings are the names the service reads, the parameters file and
the modules agree with what they feed, and nothing turns on dev mode."""

from __future__ import annotations

import json
import re

import pytest

from bot.settings import Settings
from tests.deploy import bicep_text
from tests.deploy.checkov_runner import REPO

INFRA = REPO / "infra"
MAIN = INFRA / "main.bicep"
WEB = INFRA / "modules" / "web.bicep"
KEYVAULT = INFRA / "modules" / "keyvault.bicep"


def _app_settings() -> dict[str, str]:
    text = bicep_text.strip_comments(WEB.read_text())
    pairs = re.findall(r"name:\s*'([^']+)'\s*\n\s*value:\s*(.+)", text)
    return {name: value.strip() for name, value in pairs}


def test_app_settings_use_the_service_variable_names():
    settings = _app_settings()
    for name in (
        "MicrosoftAppId",
        "MicrosoftAppType",
        "MicrosoftAppTenantId",
        "ARCHIVE_URL",
        "AZURE_CLIENT_ID",
        "PORT",
    ):
        assert name in settings, name
    assert settings["MicrosoftAppType"] == "botAppType"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert settings["ARCHIVE_URL"] == "archiveUrl"
    assert "'${storage.outputs.blobEndpoint}${archiveContainerName}'" in MAIN.read_text()


def test_whatsapp_settings_are_key_vault_references_to_secrets_the_vault_holds():
    settings = _app_settings()
    vault_secrets = set(re.findall(r"^\s*name:\s*'([a-z-]+)'", KEYVAULT.read_text(), re.M))
    whatsapp = {k: v for k, v in settings.items() if k.startswith("WHATSAPP_")}
    assert set(whatsapp) == {
        "WHATSAPP_ACCESS_TOKEN",
        "WHATSAPP_PHONE_NUMBER_ID",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
    }
    references = {**whatsapp, "MicrosoftAppPassword": settings["MicrosoftAppPassword"]}
    for name, value in references.items():
        match = re.fullmatch(
            r"'@Microsoft\.KeyVault\(VaultName=\$\{keyVaultName\};SecretName=([a-z-]+)\)'", value
        )
        assert match, f"{name} is not a Key Vault reference: {value}"
        assert match.group(1) in vault_secrets, f"{name} names a secret the vault does not hold"
    assert "keyVaultReferenceIdentity: identityId" in WEB.read_text()


def test_the_deployed_settings_satisfy_the_service_without_dev_mode():
    """Fill the app settings as App Service would (Key Vault references resolved) and load them."""
    env = {name: "resolved-value" for name in _app_settings()}
    env.update(
        {
            "MicrosoftAppType": "UserAssignedMSI",
            "MicrosoftAppId": "7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
            "MicrosoftAppTenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "ARCHIVE_URL": "https://stwab123.blob.core.windows.net/archive",
            "PORT": "8000",
        }
    )
    env.pop("MicrosoftAppPassword")  # only a SingleTenant bot gets it
    settings = Settings.from_env(env)
    assert settings.missing_secrets() == [] and not settings.dev_mode
    assert settings.archive.archive_url == "https://stwab123.blob.core.windows.net/archive"


def test_nothing_deployed_turns_on_dev_mode():
    for path in [*INFRA.rglob("*"), REPO / "azure.yaml", REPO / "Dockerfile"]:
        if path.is_file():
            assert "WABRIDGE_DEV_MODE" not in path.read_text(), path


def test_password_setting_only_for_a_single_tenant_bot():
    text = WEB.read_text()
    assert "concat(baseSettings, hasBotPassword ? passwordSetting : [])" in text
    assert "hasBotPassword: !useMsi" in MAIN.read_text()


def test_parameters_file_matches_main_bicep():
    declared = bicep_text.params(MAIN.read_text())
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(declared), set(given) - set(declared)
    required = {name for name, p in declared.items() if not p.has_default}
    assert required <= set(given), f"azd would prompt for {required - set(given)}"
    secure = re.findall(r"@secure\(\)\s*\n(?:@.*\n)*param\s+(\w+)", MAIN.read_text())
    assert secure, "no secure parameters found"
    for name in secure:
        value = given.get(name, {}).get("value", "${}")
        assert isinstance(value, str) and value.startswith("${"), (
            f"{name}: a secret's value must come from the azd environment, never the file"
        )


@pytest.mark.parametrize("path", sorted(INFRA.rglob("*.bicep")), ids=lambda p: p.name)
def test_modules_receive_exactly_the_params_they_declare(path):
    text = path.read_text()
    for name, (module_path, passed) in bicep_text.modules(text).items():
        target = path.parent / module_path
        assert target.is_file(), f"{path.name}: module {name} points to missing {module_path}"
        declared = bicep_text.params(target.read_text())
        unknown = set(passed) - set(declared)
        missing = {n for n, p in declared.items() if not p.has_default} - set(passed)
        assert not unknown, f"{path.name}: module {name} passes undeclared {unknown}"
        assert not missing, f"{path.name}: module {name} lacks required {missing}"


def test_resources_use_pinned_api_versions_and_outputs_give_the_manifest_values():
    for path in INFRA.rglob("*.bicep"):
        for _, rtype, version in bicep_text.RESOURCE_RE.findall(path.read_text()):
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", version), (path.name, rtype)
            if version.endswith("-preview"):
                assert rtype == "Microsoft.Insights/diagnosticSettings", (path.name, rtype)
    outputs = set(bicep_text.OUTPUT_RE.findall(MAIN.read_text()))
    assert {
        "BOT_ID",
        "BOT_DOMAIN",
        "TEAMS_APP_ID",
        "MANIFEST_BUILD_COMMAND",
        "WHATSAPP_WEBHOOK_URL",
        "ARCHIVE_URL",
    } <= outputs
    assert "--bot-id ${microsoftAppId} --domain ${web.outputs.defaultHostName}" in MAIN.read_text()


def test_archive_storage_is_worm_and_locked_down():
    text = bicep_text.strip_comments((INFRA / "modules" / "storage.bicep").read_text())
    for setting in (
        "supportsHttpsTrafficOnly: true",
        "minimumTlsVersion: 'TLS1_2'",
        "allowBlobPublicAccess: false",
        "allowSharedKeyAccess: false",
        "isVersioningEnabled: true",
        "immutableStorageWithVersioning: {\n      enabled: true",
        "immutabilityPeriodSinceCreationInDays: retentionDays",
        "allowProtectedAppendWrites: true",
        "isHnsEnabled: false",
        "publicAccess: 'None'",
    ):
        assert setting in text, setting
    assert re.search(r"deleteRetentionPolicy: \{\s*enabled: true", text)
    # Blob data access for the service identity on this account only, never wider.
    assert text.count("scope: account") == 2
    main = MAIN.read_text()
    allowed = re.search(r"@allowed\(\[([^\]]*)\]\)\s*\n@description\('Archive storage", main)
    assert allowed and "LRS" not in allowed.group(1)
    assert "retentionDays: archiveRetentionDays" in main


def test_web_app_settings_for_app_service():
    text = bicep_text.strip_comments(WEB.read_text())
    for setting in (
        "httpsOnly: true",
        "alwaysOn: true",
        "healthCheckPath: '/healthz'",
        "linuxFxVersion: 'PYTHON|3.11'",
        "appCommandLine: 'wabridge serve'",
        "minTlsVersion: '1.2'",
        "ftpsState: 'Disabled'",
        "type: 'UserAssigned'",
        "'azd-service-name': 'bot'",
    ):
        assert setting in text, setting
    azure_yaml = (REPO / "azure.yaml").read_text()
    assert re.search(r"services:\s*\n\s+bot:\s*\n(\s+.*\n)*?\s+host: appservice", azure_yaml)
    assert re.search(r"infra:\s*\n(\s+.*\n)*?\s+path: infra", azure_yaml)


def test_deployment_packages_leave_out_secrets_and_local_state():
    """`azd deploy` zips the project folder: the azd environment (.azure/ holds the secrets)
    and local files must not reach App Service, nor the Docker build context."""
    for ignore_file in (".webappignore", ".dockerignore"):
        patterns = {
            line.strip().rstrip("/")
            for line in (REPO / ignore_file).read_text().splitlines()
            if line.strip() and not line.startswith("#")
        }
        for required in (".azure", ".env", ".venv", ".tools", "archive"):
            assert required in patterns, f"{ignore_file} must exclude {required}"
    assert (REPO / "requirements.txt").read_text().strip().splitlines()[-1] == "."
    # ...but App Service's build (pip install . via requirements.txt) needs these.
    web_ignored = {
        line.strip().rstrip("/")
        for line in (REPO / ".webappignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    needed = {
        "requirements.txt",
        "pyproject.toml",
        "setup.py",
        "README.md",
        "bot",
        "bridge",
        "manifest",
    }
    assert not needed & web_ignored
