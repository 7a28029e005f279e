"""The ``ArchiveStore`` protocol: the few blob operations the archive needs.

Backends translate their own errors into :mod:`bridge.errors`; nothing SDK-specific leaves them.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StoredDoc:
    """A mutable state document and the ETag to update it with."""

    data: bytes
    etag: str


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int


@runtime_checkable
class ArchiveStore(Protocol):
    """What every archive backend provides.

    Record and media blobs are written once with :meth:`create` and never changed; state
    documents (thread map, registries, pending lists) are updated with ETag concurrency via
    :meth:`put`; ledger segments grow by :meth:`append` only.
    """

    description: str

    async def ensure_ready(self) -> None:
        """Create the container/directory if missing; raise ``ArchiveUnavailable`` if unreachable."""

    async def create(
        self,
        name: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        tags: dict[str, str] | None = None,
    ) -> bool:
        """Write ``name`` only if it does not exist. True if written, False if it existed."""

    async def create_stream(
        self, name: str, chunks: AsyncIterable[bytes], *, content_type: str
    ) -> bool:
        """Like :meth:`create`, for large content that must not be held in memory whole."""

    async def read(self, name: str) -> bytes:
        """The whole content; ``RecordNotFound`` if absent."""

    def read_stream(self, name: str) -> AsyncIterator[bytes]:
        """The content in chunks; ``RecordNotFound`` if absent."""

    async def exists(self, name: str) -> bool: ...

    async def get_doc(self, name: str) -> StoredDoc | None:
        """A state document with its ETag, or None."""

    async def put_doc(
        self, name: str, data: bytes, *, etag: str | None, content_type: str = "application/json"
    ) -> str:
        """Replace a state document if its ETag is still ``etag`` (None: create only).

        Returns the new ETag; raises ``ConcurrentUpdate`` when another writer got there first.
        """

    async def delete_doc(self, name: str, *, etag: str | None = None) -> None:
        """Remove a state document (never a record or media blob)."""

    async def append(self, name: str, data: bytes) -> None:
        """Append to an append-only log blob, creating it if needed."""

    def list(self, prefix: str) -> AsyncIterator[BlobInfo]:
        """Every blob whose name starts with ``prefix``, in name order."""

    async def find_by_tags(self, expression: str) -> list[str] | None:
        """Names of blobs matching a blob-index-tag filter; None if the backend has no tag index."""

    async def set_legal_hold(self, name: str, hold: bool) -> None:
        """Set the storage service's legal hold; ``NotSupportedByBackend`` where there is none."""

    async def close(self) -> None: ...
