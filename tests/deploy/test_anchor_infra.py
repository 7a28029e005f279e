"""infra/ anchors the ledger: the checkpoint container in an account of its own, under a
time-based retention policy that no overwrite gets around, written by the service identity
only, and named to the web app in WABRIDGE_ANCHOR_URL."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.settings import Settings
from bridge.anchor.store import AnchorMisplaced, open_anchor
from tests.deploy import bicep_text
from tests.deploy.checkov_runner import REPO

INFRA = REPO / "infra"
ANCHOR = INFRA / "modules" / "anchor.bicep"


def test_the_checkpoint_container_is_retention_locked_and_never_versioned():
    text = bicep_text.strip_comments(ANCHOR.read_text())
    for setting in (
        "supportsHttpsTrafficOnly: true",
        "minimumTlsVersion: 'TLS1_2'",
        "allowBlobPublicAccess: false",
        "allowSharedKeyAccess: false",
        "publicAccess: 'None'",
        "immutabilityPeriodSinceCreationInDays: retentionDays",
        "allowProtectedAppendWrites: false",
    ):
        assert setting in text, setting
    policy = re.search(
        r"resource \w+ 'Microsoft\.Storage/storageAccounts/blobServices/containers/"
        r"immutabilityPolicies@[^']+' = \{\s*parent: (\w+)\s*name: 'default'",
        text,
    )
    assert policy and re.search(
        rf"resource {policy.group(1)} 'Microsoft\.Storage/storageAccounts/"
        r"blobServices/containers@",
        text,
    )
    # A version-level policy would let an overwrite make a new current version of a checkpoint.
    assert "isVersioningEnabled" not in text and "immutableStorageWithVersioning" not in text
    assert re.search(r"deleteRetentionPolicy: \{\s*enabled: true", text)
    # The service identity writes here, on this account only.
    assert text.count("scope: account") == 1
    assert "ba92f5b4-2d11-453d-a403-e96b0029c9fe" in text and "principalId: principalId" in text


def test_the_web_app_is_given_the_anchor_and_it_is_not_the_archive():
    main = _main()
    anchor = bicep_text.modules(main)["anchor"]
    assert anchor[0] == "modules/anchor.bicep"
    assert "retentionDays: archiveRetentionDays" in _module_block(main, "anchor")
    assert "principalId: identity.outputs.principalId" in _module_block(main, "anchor")
    assert "anchorUrl: '${anchor.outputs.blobEndpoint}${anchorContainerName}'" in main
    assert re.search(
        r"name: 'WABRIDGE_ANCHOR_URL'\s*\n\s*value: anchorUrl",
        (INFRA / "modules" / "web.bicep").read_text(),
    )
    assert "output ANCHOR_URL string" in main
    names = re.search(
        r"storage: '(\w+)\$\{take\(token, (\d+)\)\}'\s*\n\s*anchor: "
        r"'(\w+)\$\{take\(token, (\d+)\)\}'",
        main,
    )
    assert names and names.group(1) != names.group(3)
    assert len(names.group(3)) + int(names.group(4)) <= 24  # a storage account name's limit


def test_the_deployed_anchor_url_is_accepted_by_the_service():
    env = {
        "MicrosoftAppType": "UserAssignedMSI",
        "MicrosoftAppId": "7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
        "MicrosoftAppTenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "WHATSAPP_ACCESS_TOKEN": "x",
        "WHATSAPP_PHONE_NUMBER_ID": "1",
        "WHATSAPP_APP_SECRET": "y",
        "WHATSAPP_VERIFY_TOKEN": "z",
        "ARCHIVE_URL": "https://stwab123.blob.core.windows.net/archive",
        "WABRIDGE_ANCHOR_URL": "https://stwabck123.blob.core.windows.net/checkpoints",
    }
    settings = Settings.from_env(env)
    assert settings.archive.anchor_url == env["WABRIDGE_ANCHOR_URL"]
    assert settings.checkpoint_seconds == 300

    async def check() -> None:
        archive = settings.archive.open_store()
        anchor = settings.archive.open_anchor(archive)
        try:
            assert anchor is not None and "checkpoints" in anchor.description
            with pytest.raises(AnchorMisplaced, match="the archive's own container"):
                open_anchor(env["ARCHIVE_URL"], archive=archive)
        finally:
            await archive.close()
            await anchor.close()

    asyncio.run(check())


def _main() -> str:
    return bicep_text.strip_comments((INFRA / "main.bicep").read_text())


def _module_block(main: str, name: str) -> str:
    start = re.search(rf"^module {name} ", main, re.M)
    return bicep_text.block_after(main, start.end())
