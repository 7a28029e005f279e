"""Capture the record write as it reaches the wire, from the SDK and from ``PutBlobWriter``.

``python -m tests.support.put_blob_capture CERT KEY`` serves https on a loopback port with the
given certificate (the clients trust it through ``SSL_CERT_FILE``), writes the same blobs through
``azure-storage-blob`` (the archive's ``WABRIDGE_BLOB_WRITER=sdk`` path) and through
``PutBlobWriter``, with each credential form the archive accepts, and prints one JSON object:
``{form: [{"blob": name, "sdk": request, "rest": request}, ...]}``. A request is what the server
received: method, raw path and query, every header line, the body.

``PutBlobWriter`` is given the SDK request's ``x-ms-date`` and ``x-ms-client-request-id``: the
two requests then differ in nothing the service reads, and a Shared Key signature over the same
canonical request is the same string.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from aiohttp import web
from azure.core.credentials import AccessToken
from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas
from azure.storage.blob.aio import BlobServiceClient

from bridge.store.azure_blob import AzureBlobStore
from bridge.store.put_blob import PutBlobWriter, auth_for
from tests.support.azurite import ACCOUNT, ACCOUNT_KEY, free_port

CONTAINER = "wabridge-archive"
#: (blob name, body, content type, tags): names and tag values that need encoding.
BLOBS = [
    (
        "records/106540352242922:15550001234/2026/11/29/a.json",
        b'{"n":1}',
        "application/json",
        {"conversation": "106540352242922:15550001234", "date": "2026-11-29", "kind": "message"},
    ),
    (
        "records/with space/and+plus=equals/\u00e9/%41.json",
        b'{"n":2}',
        "application/json",
        {"note": "a b+c=d/e_f.g", "date": "2026-11-29"},
    ),
    ("records/~tilde/(paren)/[b]/x!'*.json", b"", "application/json", None),
    ("media/3f/3fa9.bin", bytes(range(256)) * 4, "image/jpeg", {"kind": "media"}),
]


class FixedToken:
    """A Microsoft Entra token credential that hands out one token."""

    TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL3N0b3JhZ2UuYXp1cmUuY29tIn0.c2ln"

    async def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        assert scopes == ("https://storage.azure.com/.default",), scopes
        return AccessToken(self.TOKEN, int(time.time()) + 3600)

    async def close(self) -> None:
        pass


class Recorder:
    """A loopback Blob endpoint that answers every Put Blob 201 and keeps what it received."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    async def put(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": sorted(
                    [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers
                ),
                "body": base64.b64encode(body).decode("ascii"),
            }
        )
        return web.Response(
            status=201,
            headers={
                "ETag": '"0x8DE0000000000001"',
                "Last-Modified": "Sun, 29 Nov 2026 10:00:00 GMT",
                "x-ms-version": request.headers.get("x-ms-version", ""),
                "x-ms-request-id": "1",
                "x-ms-request-server-encrypted": "true",
            },
        )


def _header(request: dict, name: str) -> str:
    return next(v for k, v in request["headers"] if k.lower() == name)


async def _capture(recorder: Recorder, service: BlobServiceClient, credential=None) -> list[dict]:
    container = service.get_container_client(CONTAINER)
    store = AzureBlobStore(container, service=service, credential=credential, blob_writer="sdk")
    pairs = []
    try:
        for name, data, content_type, tags in BLOBS:
            assert await store.create(name, data, content_type=content_type, tags=tags) is True
            sdk = recorder.requests[-1]
            sent_at = parsedate_to_datetime(_header(sdk, "x-ms-date")).timestamp()
            request_id = _header(sdk, "x-ms-client-request-id")
            writer = PutBlobWriter(
                container.url,
                auth_for(container.url, container.credential),
                api_version=container.api_version,
                clock=lambda t=sent_at: t,
                request_id=lambda i=request_id: i,
            )
            try:
                assert await writer.create(name, data, content_type=content_type, tags=tags)
            finally:
                await writer.close()
            pairs.append({"blob": name, "sdk": sdk, "rest": recorder.requests[-1]})
    finally:
        await store.close()
    return pairs


async def main(cert_file: str, key_file: str) -> None:
    recorder = Recorder()
    app = web.Application()
    app.router.add_put("/{tail:.*}", recorder.put)
    runner = web.AppRunner(app)
    await runner.setup()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
    endpoint = f"https://127.0.0.1:{port}/{ACCOUNT}"
    sas = generate_account_sas(
        ACCOUNT,
        ACCOUNT_KEY,
        ResourceTypes(object=True),
        AccountSasPermissions(write=True, create=True, tag=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    forms = {
        "shared_key": lambda: (
            BlobServiceClient.from_connection_string(
                f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={endpoint};"
            ),
            None,
        ),
        "sas": lambda: (
            BlobServiceClient.from_connection_string(
                f"BlobEndpoint={endpoint};SharedAccessSignature={sas}"
            ),
            None,
        ),
        "entra": lambda: (BlobServiceClient(endpoint, credential=(token := FixedToken())), token),
    }
    out = {}
    try:
        for form, make in forms.items():
            service, credential = make()
            out[form] = await _capture(recorder, service, credential)
    finally:
        await runner.cleanup()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
