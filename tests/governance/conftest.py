"""Fixtures of the governance tests: a loopback fake of Microsoft Graph with an HTTPS token
endpoint, an archive per backend, the sample policy file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.entra.directory import GraphDirectory, make_credential
from bot.settings import AzureCredentials
from bridge.archive import Archive
from tests.fakes.ms_graph import MsGraphFake
from tests.relay.conftest import connector, world  # noqa: F401 - the relay's fixtures
from tests.support.tls import make_loopback_cert

POLICY_FILE = Path(__file__).resolve().parents[1] / "data" / "governance" / "policy.toml"
TENANT = "7a1c0de5-0000-4000-8000-00000000c0de"


@pytest.fixture(scope="session")
def loopback_cert(tmp_path_factory):
    return make_loopback_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def ms_graph(loopback_cert):
    fake = MsGraphFake(tls=loopback_cert)
    await fake.start()
    fake.client_id, fake.client_secret = fake.register_app()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def graph_directory(ms_graph, loopback_cert):
    """The production directory and credential classes, pointed at the fake."""
    credential = make_credential(
        AzureCredentials(TENANT, ms_graph.client_id, ms_graph.client_secret),
        authority=ms_graph.authority_url,
        connection_verify=str(loopback_cert.cert_file),
    )
    directory = GraphDirectory(credential, base_url=ms_graph.base_url)
    try:
        yield directory
    finally:
        await directory.close()


@pytest.fixture
async def archive(store):
    """An archive over the parametrized store (local directory and Azurite)."""
    return Archive(store)


async def records_of(archive: Archive, kind: str | None = None) -> list[dict]:
    """Every stored record (as a dict), optionally of one kind, in capture order."""
    import json

    found = []
    async for _name, data in archive.iter_records():
        doc = json.loads(data)
        if kind is None or doc["kind"] == kind:
            found.append(doc)
    return sorted(found, key=lambda d: d["id"])
