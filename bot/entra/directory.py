"""Microsoft Graph (Entra ID) as the directory the user registry is synced from
(a :class:`bot.ports.Directory`).

Uses **msgraph-sdk** with an **azure-identity** credential: a client secret
(``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_CLIENT_SECRET``, read into
:class:`bot.settings.AzureCredentials`) or a managed identity.
``GRAPH_URL`` sets the Graph base URL through the request adapter's public ``base_url`` (tests
point it at a loopback fake). The app registration needs ``GroupMember.Read.All`` (application).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.ports import DirectoryError
from bot.settings import AzureCredentials
from bridge.governance.registry import Member

log = logging.getLogger("wabridge.governance")

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
USER_FIELDS = ["id", "userPrincipalName", "displayName"]
PAGE_SIZE = 999


class MissingCredentials(ValueError):
    """The sync's credentials are incomplete; the message names what is missing."""


def make_credential(credentials: AzureCredentials, **options: Any) -> Any:
    """An async azure-identity credential: managed identity, or a client secret.

    azure-identity itself honours ``AZURE_AUTHORITY_HOST`` (sovereign clouds). ``options`` go
    to the credential (e.g. ``connection_verify``). Raises :class:`MissingCredentials` naming
    every missing value.
    """
    if credentials.managed_identity:
        from azure.identity.aio import ManagedIdentityCredential

        # With a client id: that user-assigned identity; without: the system-assigned one.
        if credentials.client_id:
            return ManagedIdentityCredential(client_id=credentials.client_id, **options)
        return ManagedIdentityCredential(**options)
    missing = credentials.missing()
    if missing:
        raise MissingCredentials(
            "directory sync needs " + ", ".join(missing) + " (or --managed-identity on an "
            "Azure host)"
        )
    from azure.identity.aio import ClientSecretCredential

    return ClientSecretCredential(
        credentials.tenant_id, credentials.client_id, credentials.client_secret, **options
    )


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
                select=USER_FIELDS,
                top=PAGE_SIZE,
            )
        )
        errors = {"XXX": ODataError}
        members: dict[str, Member] = {}
        pages = 0
        request = builder.to_get_request_information(config)
        try:
            while request is not None:
                body = await self.client.request_adapter.send_primitive_async(
                    request, "bytes", errors
                )
                page = json.loads(body or b"{}")
                pages += 1
                for user in page.get("value") or []:
                    oid = str(user.get("id") or "").lower()
                    if oid:
                        members[oid] = Member(
                            oid, user.get("userPrincipalName") or "", user.get("displayName")
                        )
                next_link = page.get("@odata.nextLink")
                request = (
                    builder.with_url(next_link).to_get_request_information() if next_link else None
                )
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
