"""Shared fixtures: Azurite for the whole session, and one archive store per backend."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from bridge.store.azure_blob import AzureBlobStore
from bridge.store.local import LocalStore
from tests.fakes.meta_graph import meta_graph  # noqa: F401 - fixture
from tests.support.azurite import Azurite

BACKENDS = ["local", "azurite"]


@pytest.fixture(scope="session", autouse=True)
def _private_index_cache(tmp_path_factory: pytest.TempPathFactory):
    """Search-index cache files of Azure archives go to a temporary directory, not ~/.cache."""
    saved = os.environ.get("WABRIDGE_INDEX_DIR")
    os.environ["WABRIDGE_INDEX_DIR"] = str(tmp_path_factory.mktemp("index-cache"))
    yield
    if saved is None:
        os.environ.pop("WABRIDGE_INDEX_DIR", None)
    else:
        os.environ["WABRIDGE_INDEX_DIR"] = saved


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory):
    """One Azurite for the session (or the one named by WABRIDGE_TEST_AZURITE, a connection string)."""
    given = os.environ.get("WABRIDGE_TEST_AZURITE")
    if given:
        yield _Given(given)
        return
    instance = Azurite(tmp_path_factory.mktemp("azurite")).start()
    try:
        yield instance
    finally:
        instance.stop()


class _Given:
    def __init__(self, conn: str) -> None:
        self.connection_string = conn


@pytest.fixture
def azurite_factory(tmp_path: Path):
    """Private Azurite instances a test may stop and restart (their data survives a restart)."""
    started: list[Azurite] = []

    def make(location: Path | None = None, blob_port: int | None = None) -> Azurite:
        instance = Azurite(location or tmp_path / f"azurite-{len(started)}", blob_port).start()
        started.append(instance)
        return instance

    yield make
    for instance in started:
        instance.stop()


def new_container_name() -> str:
    return "t" + uuid.uuid4().hex[:20]


@pytest.fixture
def archive_location(request, tmp_path: Path, azurite) -> dict:
    """Where a test archive lives, per backend: as CLI environment and as a store factory."""
    backend = request.param
    if backend == "local":
        root = tmp_path / "archive"
        return {
            "backend": "local",
            "env": {"ARCHIVE_URL": str(root)},
            "root": root,
            "open": lambda: LocalStore(root),
        }
    container = new_container_name()
    conn = azurite.connection_string
    return {
        "backend": "azurite",
        "env": {"AZURE_STORAGE_CONNECTION_STRING": conn, "ARCHIVE_CONTAINER": container},
        "open": lambda: AzureBlobStore.from_connection_string(conn, container),
    }


@pytest.fixture
async def store(archive_location):
    """A fresh, ready store of the parametrized backend."""
    instance = archive_location["open"]()
    await instance.ensure_ready()
    try:
        yield instance
    finally:
        await instance.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "archive_location" in metafunc.fixturenames:
        metafunc.parametrize("archive_location", BACKENDS, indirect=True)
