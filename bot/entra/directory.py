"""Microsoft Graph (Entra ID) as the directory the user registry is synced from.

Uses **msgraph-sdk** with an **azure-identity** credential: a client secret
(``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_CLIENT_SECRET``) or a managed identity.
``GRAPH_URL`` sets the Graph base URL through the request adapter's public ``base_url`` (tests
point it at a loopback fake). The app registration needs ``GroupMember.Read.All`` (application).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from bridge.governance.registry import Member, RegistryChange, UserRegistry

log = logging.getLogger("wabridge.governance")

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
USER_FIELDS = ["id", "userPrincipalName", "displayName"]
PAGE_SIZE = 999


class DirectoryError(Exception):
    """The directory could not be read completely; nothing was changed."""


class Directory(Protocol):
    """Where the authorized users come from."""

    async def group_members(self, group_id: str) -> list[Member]:
        """Every user who is a member of the group, directly or through nested groups."""


class MissingCredentials(ValueError):
    """The sync's credentials are incomplete; the message names what is missing."""


def credential_from_env(
    env: Mapping[str, str], *, tenant_id: str | None = None, client_id: str | None = None,
    client_secret: str | None = None, managed_identity: bool = False, **options: Any,
) -> Any:
    """An async azure-identity credential: managed identity, or a client secret.

    Options win over ``AZURE_TENANT_ID`` / ``AZURE_CLIENT_ID`` / ``AZURE_CLIENT_SECRET``;
    azure-identity itself honours ``AZURE_AUTHORITY_HOST`` (sovereign clouds). ``options`` go
    to the credential (e.g. ``connection_verify``). Raises :class:`MissingCredentials` naming
    every missing value.
    """
    client_id = client_id or env.get("AZURE_CLIENT_ID") or None
    if managed_identity:
        from azure.identity.aio import ManagedIdentityCredential

        # With AZURE_CLIENT_ID: that user-assigned identity; without: the system-assigned one.
        if client_id:
            return ManagedIdentityCredential(client_id=client_id, **options)
        return ManagedIdentityCredential(**options)
    tenant_id = tenant_id or env.get("AZURE_TENANT_ID") or None
    client_secret = client_secret or env.get("AZURE_CLIENT_SECRET") or None
    missing = [name for name, value in (
        ("AZURE_TENANT_ID", tenant_id), ("AZURE_CLIENT_ID", client_id),
        ("AZURE_CLIENT_SECRET", client_secret),
    ) if not value]
    if missing:
        raise MissingCredentials(
            "directory sync needs " + ", ".join(missing)
            + " (or --managed-identity on an Azure host)"
        )
    from azure.identity.aio import ClientSecretCredential

    return ClientSecretCredential(tenant_id, client_id, client_secret, **options)


class GraphDirectory:
    """:class:`Directory` over Microsoft Graph through msgraph-sdk."""

    def __init__(self, credential: Any, *, base_url: str | None = None) -> None:
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph import GraphRequestAdapter, GraphServiceClient
        from msgraph_core import GraphClientFactory

        self._credential = credential
        self._http = GraphClientFactory.create_with_default_middleware()
        auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE])
        adapter = GraphRequestAdapter(auth, client=self._http)
        adapter.base_url = (base_url or DEFAULT_GRAPH_URL).rstrip("/")
        self.client = GraphServiceClient(request_adapter=adapter)

    async def group_members(self, group_id: str) -> list[Member]:
        """Every page of ``/groups/{id}/transitiveMembers/graph.user``, following nextLink.

        Requests are built by the SDK's request builders and sent by its request adapter
        (authentication, retry and redirect middleware included). The JSON of each page is read
        as bytes: the SDK's typed ``User`` models cost about 10 ms of CPU each to build, which
        would stall the service's event loop for a minute on a group of a few thousand.
        """
        from kiota_abstractions.api_error import APIError
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.groups.item.transitive_members.graph_user.graph_user_request_builder import (  # noqa: E501
            GraphUserRequestBuilder,
        )
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        builder = self.client.groups.by_group_id(group_id).transitive_members.graph_user
        config = RequestConfiguration(
            query_parameters=GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(
                select=USER_FIELDS, top=PAGE_SIZE,
            )
        )
        errors = {"XXX": ODataError}
        members: dict[str, Member] = {}
        pages = 0
        request = builder.to_get_request_information(config)
        try:
            while request is not None:
                body = await self.client.request_adapter.send_primitive_async(
                    request, "bytes", errors)
                page = json.loads(body or b"{}")
                pages += 1
                for user in page.get("value") or []:
                    oid = str(user.get("id") or "").lower()
                    if oid:
                        members[oid] = Member(oid, user.get("userPrincipalName") or "",
                                              user.get("displayName"))
                next_link = page.get("@odata.nextLink")
                request = (builder.with_url(next_link).to_get_request_information()
                           if next_link else None)
        except APIError as exc:
            raise DirectoryError(
                f"Microsoft Graph refused listing group {group_id}: {_one_line(exc)}"
            ) from exc
        except Exception as exc:  # transport errors, token errors, a body that is not JSON
            raise DirectoryError(
                f"Microsoft Graph unavailable while listing group {group_id}: "
                f"{type(exc).__name__}: {_one_line(exc)}"
            ) from exc
        log.info("group %s: %d users in %d page(s)", group_id, len(members), pages)
        return list(members.values())

    async def close(self) -> None:
        await self._http.aclose()
        close = getattr(self._credential, "close", None)
        if close is not None:
            await close()


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


async def sync_group(
    registry: UserRegistry, directory: Directory, group_id: str, *, by: str | None = None,
    allow_empty: bool = False,
) -> RegistryChange:
    """Make the registry equal to the group's transitive user members.

    An empty group would withdraw every authorization: that needs ``allow_empty``.
    The whole membership is read first; if any page fails, :class:`DirectoryError` is raised
    and the registry is left as it was. Then one ETag-guarded write applies the difference and
    each addition, update and removal is archived as an ``audit`` record.
    """
    members = await directory.group_members(group_id)
    if not members and not allow_empty:
        current = await registry.users()
        if current:
            raise DirectoryError(
                f"group {group_id} has no user members; refusing to withdraw all "
                f"{len(current)} authorizations (allow an empty group explicitly to do that)"
            )
    return await registry.replace_all(
        members, by=by or f"entra-sync:{group_id}", source=f"entra-group:{group_id}",
    )
