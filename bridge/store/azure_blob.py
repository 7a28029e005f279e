"""Azure Blob Storage backend (production), on the async ``azure-storage-blob`` client.

Every call is bounded: the SDK's retries are limited and each operation has a deadline, so an
outage surfaces as ``ArchiveUnavailable`` within seconds instead of the SDK's minute of backoff.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from bridge.errors import (
    ArchiveUnavailable,
    ConcurrentUpdate,
    NotSupportedByBackend,
    RecordNotFound,
)
from bridge.ids import check_blob_name
from bridge.store.base import BlobInfo, StoredDoc
from bridge.store.factory import BLOB_WRITERS
from bridge.store.put_blob import EXISTS, PutBlobWriter, auth_for

#: Deadline of one storage operation, retries included.
OPERATION_TIMEOUT = 10.0
_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_connect": 2,
    "retry_read": 1,
    "retry_status": 2,
    "initial_backoff": 0.5,
    "increment_base": 2,
    "connection_timeout": 4,
    "read_timeout": 8,
}
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "NETRC")


def _proxy_configured() -> bool:
    return any(os.environ.get(v) or os.environ.get(v.lower()) for v in _PROXY_VARIABLES)


def _client_options() -> dict[str, Any]:
    """The bounded retry options; with no proxy variables set, the transport is told not to
    look for them (aiohttp otherwise looks them up in a worker thread on every request)."""
    options = dict(_CLIENT_OPTIONS)
    if not _proxy_configured():
        options["use_env_settings"] = False
    return options


def _checked(name: str) -> str:
    try:
        return check_blob_name(name)
    except ValueError as exc:
        raise ArchiveUnavailable(str(exc)) from exc


def _tag_safe(value: str) -> str:
    # Tag values allow letters, digits, space and + - . / : = _ ; keep them to that set.
    return "".join(c if c.isalnum() or c in " +-./:=_" else "_" for c in value)[:256]


class AzureBlobStore:
    """``ArchiveStore`` over one Azure Blob container."""

    def __init__(
        self,
        container: ContainerClient,
        *,
        service: BlobServiceClient | None = None,
        credential: Any = None,
        blob_writer: str = "rest",
    ) -> None:
        if blob_writer not in BLOB_WRITERS:
            raise ValueError(
                f"blob writer must be one of {', '.join(BLOB_WRITERS)}, not {blob_writer!r}"
            )
        self._container = container
        self._service = service
        self._credential = credential
        self.blob_writer = blob_writer
        self._writer = (
            None
            if blob_writer == "sdk"
            else PutBlobWriter(
                container.url,
                auth_for(container.url, container.credential),
                api_version=container.api_version,
                trust_env=_proxy_configured(),
                attempts=1 + _CLIENT_OPTIONS["retry_total"],
                initial_backoff=_CLIENT_OPTIONS["initial_backoff"],
                connect_timeout=_CLIENT_OPTIONS["connection_timeout"],
                read_timeout=_CLIENT_OPTIONS["read_timeout"],
            )
        )
        self.description = f"Azure Blob container {container.container_name} at {container.url}"

    @classmethod
    def from_connection_string(
        cls, conn: str, container: str, *, blob_writer: str = "rest"
    ) -> AzureBlobStore:
        service = BlobServiceClient.from_connection_string(conn, **_client_options())
        return cls(
            service.get_container_client(container), service=service, blob_writer=blob_writer
        )

    @classmethod
    def from_container_url(cls, url: str, *, blob_writer: str = "rest") -> AzureBlobStore:
        from azure.identity.aio import DefaultAzureCredential

        account_url, _, container = url.rstrip("/").rpartition("/")
        if not container or not account_url.startswith("https://"):
            raise ValueError(
                f"ARCHIVE_URL must be https://ACCOUNT.blob.core.windows.net/CONTAINER, not {url!r}"
            )
        credential = DefaultAzureCredential()
        service = BlobServiceClient(account_url, credential=credential, **_client_options())
        return cls(
            service.get_container_client(container),
            service=service,
            credential=credential,
            blob_writer=blob_writer,
        )

    async def _call(self, what: str, coro):
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                return await coro
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "ContainerNotFound":
                raise ArchiveUnavailable(f"{what}: the archive container does not exist") from exc
            raise RecordNotFound(what) from exc
        except ResourceModifiedError as exc:
            raise ConcurrentUpdate(what) from exc
        except ResourceExistsError:
            raise
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise ConcurrentUpdate(what) from exc
            raise ArchiveUnavailable(
                f"{what}: storage answered {exc.status_code} {exc.reason}"
            ) from exc
        except (AzureError, OSError) as exc:
            raise ArchiveUnavailable(f"{what}: {type(exc).__name__}: {_short(exc)}") from exc
        except TimeoutError as exc:
            raise ArchiveUnavailable(f"{what}: no answer within {OPERATION_TIMEOUT:.0f} s") from exc

    def _blob(self, name: str):
        return self._container.get_blob_client(_checked(name))

    async def ensure_ready(self) -> None:
        async def create_or_check() -> None:
            try:
                await self._container.create_container()
            except ResourceExistsError:
                return
            except HttpResponseError as exc:
                # Managed identities often may write blobs but not create containers.
                if exc.status_code != 403:
                    raise
                await self._container.get_container_properties()

        await self._call("create container", create_or_check())

    async def create(self, name, data, *, content_type="application/json", tags=None) -> bool:
        _checked(name)
        tags = {k: _tag_safe(v) for k, v in (tags or {}).items()} or None
        if self._writer is None:
            write = self._upload_new(name, data, content_type=content_type, tags=tags)
        else:
            write = self._writer.create(name, data, content_type=content_type, tags=tags)
        return await self._call(f"write {name}", write)

    async def _upload_new(self, name, data, *, content_type, tags) -> bool:
        """The SDK's form of ``PutBlobWriter.create``: the same request, the same answers."""
        try:
            await self._blob(name).upload_blob(
                data,
                overwrite=False,
                content_settings=ContentSettings(content_type=content_type),
                tags=tags,
                validate_content=True,
            )
        except HttpResponseError as exc:
            if (exc.status_code, exc.error_code) in EXISTS:
                return False
            if exc.error_code == "ContainerNotFound":
                raise ArchiveUnavailable(
                    f"write {name}: the archive container does not exist"
                ) from exc
            raise ArchiveUnavailable(
                f"write {name}: storage answered {exc.status_code} {exc.error_code or ''}".rstrip()
            ) from exc
        return True

    async def create_stream(self, name, chunks: AsyncIterable[bytes], *, content_type) -> bool:
        blob = self._blob(name)
        if await self.exists(name):
            return False
        try:
            # Streamed in blocks; no deadline on the whole transfer, the client bounds each call.
            await blob.upload_blob(
                chunks,
                overwrite=False,
                content_settings=ContentSettings(content_type=content_type),
                max_concurrency=2,
            )
        except ResourceExistsError:
            return False
        except HttpResponseError as exc:
            if exc.status_code in (409, 412):
                return False
            raise ArchiveUnavailable(f"write {name}: {exc.status_code} {exc.reason}") from exc
        except (AzureError, OSError) as exc:
            raise ArchiveUnavailable(f"write {name}: {type(exc).__name__}") from exc
        return True

    async def read(self, name: str) -> bytes:
        blob = self._blob(name)

        async def go() -> bytes:
            downloader = await blob.download_blob()
            return await downloader.readall()

        return await self._call(f"read {name}", go())

    async def read_from(self, name: str, offset: int, length: int | None = None) -> bytes:
        """The content from byte ``offset`` on, at most ``length`` bytes (a ledger segment's new
        lines)."""
        blob = self._blob(name)

        async def go() -> bytes:
            try:
                downloader = await blob.download_blob(offset=offset, length=length)
            except HttpResponseError as exc:
                if exc.status_code == 416 or getattr(exc, "error_code", None) == "InvalidRange":
                    return b""  # nothing after offset
                raise
            return await downloader.readall()

        return await self._call(f"read {name}", go())

    async def read_stream(self, name: str) -> AsyncIterator[bytes]:
        blob = self._blob(name)
        downloader = await self._call(f"read {name}", blob.download_blob())
        try:
            async for chunk in downloader.chunks():
                yield chunk
        except (AzureError, OSError) as exc:
            raise ArchiveUnavailable(f"read {name}: {type(exc).__name__}") from exc

    async def exists(self, name: str) -> bool:
        return await self._call(f"exists {name}", self._blob(name).exists())

    async def get_doc(self, name: str) -> StoredDoc | None:
        blob = self._blob(name)

        async def go() -> StoredDoc:
            downloader = await blob.download_blob()
            data = await downloader.readall()
            return StoredDoc(data, downloader.properties.etag)

        try:
            return await self._call(f"read {name}", go())
        except RecordNotFound:
            return None

    async def put_doc(self, name, data, *, etag, content_type="application/json") -> str:
        blob = self._blob(name)
        settings = ContentSettings(content_type=content_type)
        if etag is None:
            kwargs: dict[str, Any] = {"overwrite": False}
        else:
            kwargs = {
                "overwrite": True,
                "etag": etag,
                "match_condition": MatchConditions.IfNotModified,
            }
        try:
            result = await self._call(
                f"write {name}", blob.upload_blob(data, content_settings=settings, **kwargs)
            )
        except ResourceExistsError as exc:
            raise ConcurrentUpdate(f"{name} exists already") from exc
        return result["etag"]

    async def delete_doc(self, name: str, *, etag: str | None = None) -> None:
        blob = self._blob(name)
        kwargs: dict[str, Any] = {}
        if etag is not None:
            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            await self._call(f"delete {name}", blob.delete_blob(**kwargs))
        except RecordNotFound:
            return

    async def append(self, name: str, data: bytes) -> None:
        blob = self._blob(name)
        try:
            await self._call(f"append {name}", blob.append_block(data))
        except RecordNotFound:
            try:
                await self._call(
                    f"create {name}",
                    blob.create_append_blob(
                        content_settings=ContentSettings(content_type="application/x-ndjson"),
                        if_none_match="*",
                    ),
                )
            except (ResourceExistsError, ConcurrentUpdate):
                pass
            await self._call(f"append {name}", blob.append_block(data))

    async def list(self, prefix: str) -> AsyncIterator[BlobInfo]:
        pager = self._container.list_blobs(name_starts_with=prefix, results_per_page=5000)
        try:
            async for page in pager.by_page():
                async with asyncio.timeout(OPERATION_TIMEOUT):
                    items = await _collect(page)
                for item in items:
                    yield BlobInfo(item.name, item.size or 0)
        except (AzureError, OSError, TimeoutError) as exc:
            raise ArchiveUnavailable(f"list {prefix}: {type(exc).__name__}: {_short(exc)}") from exc

    async def find_by_tags(self, expression: str) -> list[str] | None:
        async def go() -> list[str]:
            return sorted([b.name async for b in self._container.find_blobs_by_tags(expression)])

        return await self._call(f"find by tags {expression}", go())

    async def set_legal_hold(self, name: str, hold: bool) -> None:
        blob = self._blob(name)

        async def go() -> None:
            try:
                await blob.set_legal_hold(hold)
            except HttpResponseError as exc:
                # 501: not implemented (emulators); 400/409: the container has no version-level
                # immutability, which legal holds need.
                if exc.status_code not in (400, 409, 501):
                    raise
                code = getattr(exc, "error_code", None) or exc.reason
                raise NotSupportedByBackend(
                    f"the storage account refused legal hold on {name} ({exc.status_code} "
                    f"{code}); version-level immutability must be enabled on the container "
                    "(infra/ does this in Azure)"
                ) from exc

        await self._call(f"legal hold {name}", go())

    @property
    def container_url(self) -> str:
        """The container's URL, without any shared access signature."""
        return self._container.url.split("?", 1)[0]

    async def container_properties(self) -> Any:
        """The container's properties as storage reports them (``has_immutability_policy``,
        ``has_legal_hold``, ``immutable_storage_with_versioning_enabled``)."""
        return await self._call("container properties", self._container.get_container_properties())

    async def list_protection(self) -> AsyncIterator[tuple[str, str | None, bool | None]]:
        """Each blob's name, immutability policy mode (``Locked``/``Unlocked``/None) and legal
        hold, as storage reports them."""
        pager = self._container.list_blobs(
            include=["immutabilitypolicy", "legalhold"], results_per_page=5000
        )
        try:
            async for page in pager.by_page():
                async with asyncio.timeout(OPERATION_TIMEOUT):
                    items = await _collect(page)
                for item in items:
                    mode = getattr(item.immutability_policy, "policy_mode", None)
                    mode = str(getattr(mode, "value", mode) or "").capitalize() or None
                    yield item.name, mode, item.has_legal_hold
        except (AzureError, OSError, TimeoutError) as exc:
            raise ArchiveUnavailable(
                f"list with protection: {type(exc).__name__}: {_short(exc)}"
            ) from exc

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        await self._container.close()
        if self._service is not None:
            await self._service.close()
        if self._credential is not None:
            await self._credential.close()


async def _collect(page) -> list:
    return [item async for item in page]


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else ""
