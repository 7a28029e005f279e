"""Storage errors are told apart by their type and error code, never by the text of a message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

from bridge.errors import ArchiveUnavailable
from bridge.store.azure_blob import AzureBlobStore
from tests.conftest import new_container_name
from tests.support.azurite import ACCOUNT, ACCOUNT_KEY


def read_only_sas(azurite) -> str:
    sas = generate_account_sas(
        ACCOUNT,
        ACCOUNT_KEY,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    return f"BlobEndpoint={azurite.blob_endpoint};SharedAccessSignature={sas}"


async def test_a_credential_that_may_not_create_containers_still_finds_its_container(azurite):
    """Managed identities often may use a container but not create one: 403 on create is
    followed by a look at the container, which exists."""
    container = new_container_name()
    admin = AzureBlobStore.from_connection_string(azurite.connection_string, container)
    limited = AzureBlobStore.from_connection_string(read_only_sas(azurite), container)
    try:
        with pytest.raises(ArchiveUnavailable, match="does not exist"):
            await limited.ensure_ready()  # 403 on create, then no such container
        await admin.ensure_ready()
        await limited.ensure_ready()  # 403 on create, and the container is there
    finally:
        await admin.close()
        await limited.close()
