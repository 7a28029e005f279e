"""``users sync`` against the loopback fake of Microsoft Graph, through msgraph-sdk and
azure-identity's ClientSecretCredential (its token endpoint served by the fake over HTTPS)."""

from __future__ import annotations

import pytest

from bot.entra.directory import GraphDirectory, MissingCredentials, make_credential
from bot.governance.sync import sync_group
from bot.ports import DirectoryError
from bot.settings import AzureCredentials
from bridge.governance.registry import Member, UserRegistry
from tests.fakes.ms_graph import make_users
from tests.governance.conftest import records_of

GROUP = "9f1d6c2a-0000-4000-8000-0000000a11ce"
KEPT_OID = "0b7e3f1e-0000-4000-8000-00000000dead"


async def test_sync_matches_a_group_of_250_spread_over_pages(archive, ms_graph, graph_directory):
    registry = UserRegistry(archive)
    # Before: two people who left the group, one who stays.
    stayer = make_users(1, start=7)[0]
    for oid, upn in (
        ("0b7e3f1e-0000-4000-8000-00000000dead", "gone1@contoso.example"),
        ("0b7e3f1e-0000-4000-8000-00000000beef", "gone2@contoso.example"),
    ):
        await registry.add(Member(oid, upn), by="a")
    await registry.add(Member(stayer.id, stayer.userPrincipalName, stayer.displayName), by="a")
    # The group: 200 direct users and a nested group of 50 more (one overlapping), 100 per page.
    ms_graph.groups[GROUP] = make_users(200)
    ms_graph.groups["nested"] = make_users(50, start=199)
    ms_graph.nested_groups[GROUP] = ["nested"]

    change = await sync_group(registry, graph_directory, GROUP)

    users = await registry.users()
    assert len(users) == 249 + 1 - 1  # 0..248 transitive, all unique
    assert set(users) == {u.id for u in make_users(249)}
    assert len(change.added) == 248 and len(change.removed) == 2 and not change.updated
    pages = [r for r in ms_graph.requests if "transitiveMembers" in r[1]]
    assert len(pages) == 3 and all(authed for _m, _p, authed in pages)
    assert "$skiptoken" in pages[1][1] and "$skiptoken" in pages[2][1]
    assert ms_graph.token_requests == 1  # one client-credentials token, reused
    audits = await records_of(archive, "audit")
    synced = [a for a in audits if a["sender"]["id"] == f"entra-sync:{GROUP}"]
    assert sorted(a["type"] for a in synced).count("user_added") == 248
    assert sorted(a["type"] for a in synced).count("user_removed") == 2
    added = (await registry.users())[make_users(1, start=100)[0].id]
    assert (added.upn, added.name, added.source) == (
        "user0100@contoso.example",
        "User 0100",
        f"entra-group:{GROUP}",
    )

    # A second sync after the group shrank removes the leavers, and only them.
    ms_graph.nested_groups[GROUP] = []
    change = await sync_group(registry, graph_directory, GROUP)
    assert len(change.removed) == 49 and not change.added
    assert len(await registry.users()) == 200


@pytest.mark.parametrize("failing_page", [0, 2])
async def test_a_graph_failure_leaves_the_registry_unchanged(
    archive, ms_graph, graph_directory, failing_page
):
    registry = UserRegistry(archive)
    await registry.add(Member(KEPT_OID, "kept@contoso.example"), by="a")
    before = await registry.users()
    audits_before = await records_of(archive, "audit")
    ms_graph.groups[GROUP] = make_users(250)
    ms_graph.fail_page(failing_page, status=500)

    with pytest.raises(DirectoryError, match="status 500"):
        await sync_group(registry, graph_directory, GROUP)

    assert await registry.users() == before
    assert await records_of(archive, "audit") == audits_before


async def test_an_unknown_group_is_a_clear_error(archive, graph_directory):
    with pytest.raises(DirectoryError, match="does not exist"):
        await sync_group(UserRegistry(archive), graph_directory, "no-such-group")


async def test_a_bad_client_secret_is_a_clear_error(archive, ms_graph, loopback_cert):
    ms_graph.groups[GROUP] = make_users(3)
    credential = make_credential(
        AzureCredentials("t", ms_graph.client_id, "wrong"),
        authority=ms_graph.authority_url,
        connection_verify=str(loopback_cert.cert_file),
    )
    directory = GraphDirectory(credential, base_url=ms_graph.base_url)
    try:
        with pytest.raises(DirectoryError, match="Invalid client secret"):
            await sync_group(UserRegistry(archive), directory, GROUP)
    finally:
        await directory.close()
    assert [r for r in ms_graph.requests if "transitiveMembers" in r[1]] == []


async def test_an_empty_group_does_not_empty_the_registry_unless_allowed(
    archive, ms_graph, graph_directory
):
    registry = UserRegistry(archive)
    await registry.add(Member(KEPT_OID, "kept@contoso.example"), by="a")
    ms_graph.groups[GROUP] = []
    with pytest.raises(DirectoryError, match="refusing to withdraw all 1"):
        await sync_group(registry, graph_directory, GROUP)
    assert len(await registry.users()) == 1
    change = await sync_group(registry, graph_directory, GROUP, allow_empty=True)
    assert len(change.removed) == 1 and await registry.users() == {}


def test_missing_credentials_are_named():
    with pytest.raises(MissingCredentials) as caught:
        make_credential(AzureCredentials(client_id="x"))
    assert str(caught.value) == (
        "directory sync needs AZURE_TENANT_ID, AZURE_CLIENT_SECRET (or --managed-identity on an "
        "Azure host)"
    )


async def test_the_credential_is_a_managed_identity_when_asked():
    from azure.identity.aio import ClientSecretCredential, ManagedIdentityCredential

    credential = make_credential(AzureCredentials(managed_identity=True))
    try:
        assert isinstance(credential, ManagedIdentityCredential)
    finally:
        await credential.close()
    credential = make_credential(AzureCredentials("t", "c", "s"))
    try:
        assert isinstance(credential, ClientSecretCredential)
    finally:
        await credential.close()
