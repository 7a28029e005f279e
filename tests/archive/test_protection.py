"""What `archive verify` says protects the bytes in Azure, read from the Blob service as the
SDK reads it: an emulator that reports nothing, and (from a scripted endpoint that answers
as Azure does) a locked policy, an unlocked one, none at all, and legal holds."""

from __future__ import annotations

from aiohttp import web

from bridge.anchor.protection import describe_protection
from bridge.archive import Archive
from bridge.store.azure_blob import AzureBlobStore
from tests.conftest import new_container_name
from tests.support.azurite import ACCOUNT_KEY, free_port
from tests.support.processes import clean_env, wabridge
from tests.support.records import write_inbound

LIST = """<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="{endpoint}/" ContainerName="archive"><Blobs>{blobs}</Blobs>
<NextMarker /></EnumerationResults>"""
BLOB = """<Blob><Name>{name}</Name><Properties>
<Last-Modified>Wed, 02 Dec 2026 10:00:00 GMT</Last-Modified><Etag>0x8DD1</Etag>
<Content-Length>2</Content-Length><BlobType>BlockBlob</BlobType>{policy}{hold}
</Properties></Blob>"""


class _Container:
    """A loopback Blob endpoint with one container, answering Get Container Properties and
    List Blobs with the immutability facts it is given."""

    def __init__(
        self,
        *,
        policy: bool,
        version_worm: bool,
        legal_hold: bool,
        blobs: list[tuple[str, str | None, bool]],
    ) -> None:
        self.headers = {
            "x-ms-has-immutability-policy": str(policy).lower(),
            "x-ms-has-legal-hold": str(legal_hold).lower(),
            "x-ms-immutable-storage-with-versioning-enabled": str(version_worm).lower(),
        }
        self.blobs = blobs

    async def __aenter__(self) -> AzureBlobStore:
        async def get(request: web.Request) -> web.Response:
            base = {
                "ETag": '"0x8DD1"',
                "Last-Modified": "Wed, 02 Dec 2026 10:00:00 GMT",
                "x-ms-version": "2025-01-05",
            }
            if request.query.get("comp") == "list":
                blobs = "".join(
                    BLOB.format(
                        name=name,
                        policy=""
                        if mode is None
                        else (
                            "<ImmutabilityPolicyUntilDate>Fri, 02 Dec 2033 10:00:00 GMT"
                            f"</ImmutabilityPolicyUntilDate><ImmutabilityPolicyMode>{mode}"
                            "</ImmutabilityPolicyMode>"
                        ),
                        hold=f"<LegalHold>{str(hold).lower()}</LegalHold>",
                    )
                    for name, mode, hold in self.blobs
                )
                body = LIST.format(endpoint=self.endpoint, blobs=blobs)
                return web.Response(text=body, content_type="application/xml", headers=base)
            return web.Response(headers={**base, **self.headers})

        app = web.Application()
        app.router.add_get("/{tail:.*}", get)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.endpoint = f"http://127.0.0.1:{port}/wabstore"
        conn = (
            f"DefaultEndpointsProtocol=http;AccountName=wabstore;AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.endpoint};"
        )
        self.store = AzureBlobStore.from_connection_string(conn, "archive")
        return self.store

    async def __aexit__(self, *exc: object) -> None:
        await self.store.close()
        await self.runner.cleanup()


async def test_an_unlocked_policy_is_a_warning_that_names_the_command_to_lock_it():
    blobs = [("records/a.json", "unlocked", False), ("records/b.json", "unlocked", True)]
    async with _Container(policy=True, version_worm=True, legal_hold=False, blobs=blobs) as store:
        report = await describe_protection(store, "archive container")
    (line,) = report.lines
    assert "immutability policy: yes, unlocked on 2 of 2 blobs" in line
    assert "version-level WORM: on" in line and "blobs under a legal hold: 1 of 2" in line
    (warning,) = report.warnings
    assert warning[0] == "protection" and "the immutability policy is unlocked" in warning[2]
    assert (
        "az storage container immutability-policy lock --account-name wabstore "
        "--container-name archive --if-match"
    ) in warning[2]


async def test_a_locked_policy_and_a_container_legal_hold_are_reported_without_warning():
    blobs = [("records/a.json", "locked", True), ("media/ab/x", "locked", False)]
    async with _Container(policy=True, version_worm=True, legal_hold=True, blobs=blobs) as store:
        report = await describe_protection(store, "archive container")
    assert report.warnings == []
    (line,) = report.lines
    assert "immutability policy: yes, locked on 2 of 2 blobs" in line
    assert "legal hold on the container: yes" in line


async def test_a_policy_whose_lock_state_the_data_plane_does_not_show_is_said_so():
    async with _Container(
        policy=True, version_worm=False, legal_hold=False, blobs=[("records/a.json", None, False)]
    ) as store:
        report = await describe_protection(store, "archive container")
    assert report.warnings == []
    assert "not readable with data-plane access" in report.lines[0]
    assert "az storage container immutability-policy show" in report.lines[0]


async def test_no_immutability_policy_is_a_warning():
    async with _Container(
        policy=False, version_worm=False, legal_hold=False, blobs=[("records/a.json", None, False)]
    ) as store:
        report = await describe_protection(store, "archive container")
    assert "immutability policy: none" in report.lines[0]
    assert "no immutability policy" in report.warnings[0][2]


async def test_the_emulator_reports_no_protection_and_verify_says_so(azurite, tmp_path):
    env = {
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "ARCHIVE_CONTAINER": new_container_name(),
    }
    store = AzureBlobStore.from_connection_string(*env.values())
    await store.ensure_ready()
    try:
        await write_inbound(Archive(store), 2)
    finally:
        await store.close()
    result = wabridge("archive", "verify", cwd=tmp_path, env=clean_env(**env))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not reported by this storage (emulator?)" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("verify OK: 2 records")
