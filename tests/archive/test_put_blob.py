"""The record write over the Blob REST API: every way a storage account takes a credential,
names and tags that need encoding, refusals, and no secret in an error."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.credentials import AccessToken
from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas
from azure.storage.blob.aio import BlobServiceClient

from bridge.errors import ArchiveUnavailable
from bridge.store.azure_blob import AzureBlobStore
from bridge.store.put_blob import BearerAuth, auth_for
from tests.conftest import new_container_name
from tests.support.azurite import ACCOUNT, ACCOUNT_KEY, ROOT, Azurite, free_port
from tests.support.tls import make_loopback_cert

AWKWARD_NAMES = [
    "records/106540352242922:15550001234/2026/11/29/a.json",
    "records/with space/and+plus=equals/é/%41.json",
    "records/~tilde/(paren)/[b]/x!'*.json",
]


async def _sdk_read(conn: str, container: str, name: str) -> tuple[bytes, dict, str | None]:
    async with BlobServiceClient.from_connection_string(conn) as service:
        blob = service.get_blob_client(container, name)
        data = await (await blob.download_blob()).readall()
        props = await blob.get_blob_properties()
        return data, await blob.get_blob_tags(), props.content_settings.content_type


async def test_names_that_need_encoding_are_written_where_the_sdk_reads_them(azurite):
    container = new_container_name()
    store = AzureBlobStore.from_connection_string(azurite.connection_string, container)
    try:
        await store.ensure_ready()
        for i, name in enumerate(AWKWARD_NAMES):
            assert await store.create(name, f'{{"n":{i}}}'.encode()) is True
            assert await store.create(name, b'{"n":"again"}') is False
            data, _, content_type = await _sdk_read(azurite.connection_string, container, name)
            assert (data, content_type) == (f'{{"n":{i}}}'.encode(), "application/json")
        assert sorted([i.name async for i in store.list("records/")]) == sorted(AWKWARD_NAMES)
    finally:
        await store.close()


async def test_tags_with_reserved_characters_can_be_searched_by_their_exact_value(azurite):
    container = new_container_name()
    store = AzureBlobStore.from_connection_string(azurite.connection_string, container)
    tags = {
        "conversation": "106540352242922:15550001234",
        "date": "2026-11-29",
        "note": "a b+c=d/e_f.g",
    }
    try:
        await store.ensure_ready()
        await store.create("records/t/1.json", b"{}", tags=tags)
        await store.create("records/t/2.json", b"{}", tags={**tags, "conversation": "other"})
        _, stored, _ = await _sdk_read(azurite.connection_string, container, "records/t/1.json")
        assert stored == tags
        found = await store.find_by_tags("\"conversation\" = '106540352242922:15550001234'")
        assert found == ["records/t/1.json"]
        assert await store.find_by_tags("\"note\" = 'a b+c=d/e_f.g'") == [
            "records/t/1.json",
            "records/t/2.json",
        ]
    finally:
        await store.close()


def _sas_connection_string(azurite, permission: AccountSasPermissions) -> str:
    """A SAS connection string to the session's emulator (whichever way it was given)."""
    settings = dict(p.split("=", 1) for p in azurite.connection_string.split(";") if p)
    sas = generate_account_sas(
        ACCOUNT,
        ACCOUNT_KEY,
        ResourceTypes(service=True, container=True, object=True),
        permission,
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    return f"BlobEndpoint={settings['BlobEndpoint']};SharedAccessSignature={sas}"


async def test_a_sas_connection_string_writes_and_a_read_only_sas_is_refused(azurite):
    container = new_container_name()
    full = AccountSasPermissions(
        read=True, write=True, create=True, list=True, tag=True, filter_by_tags=True, add=True
    )
    store = AzureBlobStore.from_connection_string(_sas_connection_string(azurite, full), container)
    read_only = AzureBlobStore.from_connection_string(
        _sas_connection_string(azurite, AccountSasPermissions(read=True, list=True)), container
    )
    try:
        await store.ensure_ready()
        assert await store.create("records/s/1.json", b'{"sas":1}', tags={"date": "2026-11-29"})
        assert await store.read("records/s/1.json") == b'{"sas":1}'
        started = time.monotonic()
        with pytest.raises(ArchiveUnavailable, match="403") as refused:
            await read_only.create("records/s/2.json", b'{"sas":2}')
        assert time.monotonic() - started < 2  # a refusal is not retried
        assert "sig=" not in str(refused.value)
        assert not await store.exists("records/s/2.json")
    finally:
        await store.close()
        await read_only.close()


async def test_a_wrong_account_key_is_refused_without_leaking_it(azurite):
    container = new_container_name()
    good = AzureBlobStore.from_connection_string(azurite.connection_string, container)
    wrong_key = base64.b64encode(
        b"not the account key, 64 bytes long......................"
    ).decode()
    bad = AzureBlobStore.from_connection_string(
        azurite.connection_string.replace(ACCOUNT_KEY, wrong_key), container
    )
    try:
        await good.ensure_ready()
        with pytest.raises(ArchiveUnavailable, match="403") as refused:
            await bad.create("records/k/1.json", b"{}")
        assert wrong_key not in str(refused.value) and "SharedKey" not in str(refused.value)
        assert not await good.exists("records/k/1.json")
    finally:
        await good.close()
        await bad.close()


async def test_a_missing_container_is_reported_as_such(azurite):
    store = AzureBlobStore.from_connection_string(azurite.connection_string, new_container_name())
    try:
        with pytest.raises(ArchiveUnavailable, match="container does not exist"):
            await store.create("records/m/1.json", b"{}")
    finally:
        await store.close()


class _Clock:
    """A token credential whose tokens live ``lifetime`` seconds; counts its calls."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.calls = 0

    async def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.calls += 1
        assert scopes == ("https://storage.azure.com/.default",)
        return AccessToken(f"token-{self.calls}", int(time.time() + self.lifetime))


async def test_a_bearer_token_is_reused_until_shortly_before_it_expires():
    from yarl import URL

    url = URL("https://acct.blob.core.windows.net/c/x")
    lasting, expiring = _Clock(3600), _Clock(120)
    for credential, expected in (
        (lasting, ["token-1", "token-1"]),
        (expiring, ["token-1", "token-2"]),
    ):
        auth = BearerAuth(credential)
        sent = []
        for _ in range(2):
            headers: dict[str, str] = {}
            await auth.apply("PUT", url, headers)
            sent.append(headers["Authorization"].removeprefix("Bearer "))
        assert sent == expected


def test_a_token_is_never_sent_over_plain_http():
    with pytest.raises(ValueError, match="https"):
        auth_for("http://127.0.0.1:10000/devstoreaccount1/c", _Clock(3600))


BEARER_SCRIPT = textwrap.dedent("""
    import asyncio, base64, json, sys, time
    from azure.core.credentials import AccessToken
    from azure.storage.blob.aio import BlobServiceClient
    from bridge.errors import ArchiveUnavailable
    from bridge.store.azure_blob import AzureBlobStore

    def part(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    class EntraToken:
        # What Azurite's basic OAuth checks: issuer, audience, lifetime (not the signature).
        def __init__(self, audience):
            self.audience = audience
        async def get_token(self, *scopes, **kwargs):
            now = int(time.time())
            claims = {"aud": self.audience, "iss": "https://sts.windows.net/tenant-id/",
                      "iat": now, "nbf": now - 60, "exp": now + 3600}
            return AccessToken(part({"alg": "RS256", "typ": "JWT"}) + "." + part(claims) + ".c2ln", now + 3600)
        async def close(self):
            pass

    async def open_store(endpoint, container, audience):
        credential = EntraToken(audience)
        service = BlobServiceClient(endpoint, credential=credential)
        return AzureBlobStore(service.get_container_client(container), service=service, credential=credential)

    async def main(endpoint, container):
        store = await open_store(endpoint, container, "https://storage.azure.com")
        wrong = await open_store(endpoint, container, "https://vault.azure.net")
        out = {}
        try:
            await store.ensure_ready()
            out["created"] = [await store.create("records/e/1.json", b'{"entra":1}', tags={"date": "2026-11-29"}),
                              await store.create("records/e/1.json", b'{"entra":2}')]
            out["read"] = (await store.read("records/e/1.json")).decode()
            try:
                await wrong.create("records/e/2.json", b"{}")
            except ArchiveUnavailable as exc:
                out["wrong_audience"] = str(exc)
            out["second_exists"] = await store.exists("records/e/2.json")
        finally:
            await store.close()
            await wrong.close()
        print(json.dumps(out))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


def test_an_entra_token_credential_writes_over_https(tmp_path):
    """The production path (``ARCHIVE_URL`` with a managed identity or other Entra credential),
    against Azurite serving https and checking bearer tokens."""
    cert = make_loopback_cert(tmp_path / "tls")
    emulator = Azurite(
        tmp_path / "azurite", tls=(cert.cert_file, cert.key_file), oauth=True
    ).start()
    try:
        env = {**os.environ, "SSL_CERT_FILE": str(cert.cert_file), "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", BEARER_SCRIPT, emulator.blob_endpoint, new_container_name()],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
        )
    finally:
        emulator.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["created"] == [True, False]
    assert out["read"] == '{"entra":1}'
    assert "401" in out["wrong_audience"] or "403" in out["wrong_audience"]
    assert out["second_exists"] is False


def test_a_sas_in_a_transport_error_does_not_reach_the_message():
    from bridge.store.put_blob import _describe

    error = OSError(
        "Cannot connect to https://acct.blob.core.windows.net/c/x.json?sv=2025&sig=c2VjcmV0 [refused]"
    )
    assert "sig=" not in _describe(error) and "c2VjcmV0" not in _describe(error)
    assert _describe(error).startswith(
        "OSError: Cannot connect to https://acct.blob.core.windows.net/c/x.json?"
    )


class _ScriptedStorage:
    """A loopback endpoint that answers Put Blob with a scripted list of (status, error code)."""

    def __init__(self, answers: list[tuple[int, str]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, str]] = []

    async def __aenter__(self) -> str:
        from aiohttp import web

        async def put(request: web.Request) -> web.Response:
            await request.read()
            self.requests.append(dict(request.headers))
            status, code = self.answers[min(len(self.requests), len(self.answers)) - 1]
            return web.Response(status=status, headers={"x-ms-error-code": code} if code else {})

        app = web.Application()
        app.router.add_put("/{tail:.*}", put)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}/account/container"

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


def _writer(url: str):
    from bridge.store.put_blob import PutBlobWriter

    return PutBlobWriter(url, None, api_version="2025-01-05", initial_backoff=0.05)


@pytest.mark.parametrize(
    "answers, created, attempts",
    [
        ([(503, "ServerBusy"), (500, "InternalError"), (201, "")], True, 3),
        ([(409, "BlobImmutableDueToLegalHold")], False, 1),
        ([(409, "BlobImmutableDueToPolicy")], False, 1),
        ([(412, "ConditionNotMet")], False, 1),
        ([(503, "ServerBusy"), (409, "BlobAlreadyExists")], False, 2),  # the first try had landed
    ],
)
async def test_answers_of_storage_are_read_as_created_existing_or_retried(
    answers, created, attempts
):
    storage = _ScriptedStorage(answers)
    async with storage as url:
        writer = _writer(url)
        try:
            assert (
                await writer.create("records/a.json", b"{}", content_type="application/json")
                is created
            )
        finally:
            await writer.close()
    assert len(storage.requests) == attempts
    assert {r["If-None-Match"] for r in storage.requests} == {"*"}
    assert {r["Content-MD5"] for r in storage.requests} == {"mZFLkyvTelC5g8XnyQrpOw=="}  # md5 of {}


@pytest.mark.parametrize(
    "answers, attempts, message",
    [
        ([(503, "ServerBusy")], 3, "503 ServerBusy"),
        ([(403, "AuthorizationFailure")], 1, "403 AuthorizationFailure"),
        ([(409, "ContainerBeingDeleted")], 1, "409 ContainerBeingDeleted"),
        ([(400, "Md5Mismatch")], 1, "400 Md5Mismatch"),
    ],
)
async def test_refusals_and_persistent_faults_raise_archive_unavailable(answers, attempts, message):
    storage = _ScriptedStorage(answers)
    async with storage as url:
        writer = _writer(url)
        try:
            with pytest.raises(ArchiveUnavailable, match=message):
                await writer.create("records/a.json", b"{}", content_type="application/json")
        finally:
            await writer.close()
    assert len(storage.requests) == attempts
