"""What an insider with raw storage access could do, behind the application's back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from bridge.ledger import GENESIS, LedgerEntry, entry_line


@asynccontextmanager
async def _container(location: dict) -> AsyncIterator[ContainerClient]:
    env = location["env"]
    async with BlobServiceClient.from_connection_string(
        env["AZURE_STORAGE_CONNECTION_STRING"]
    ) as svc:
        yield svc.get_container_client(env["ARCHIVE_CONTAINER"])


def _path(location: dict, name: str) -> Path:
    path = Path(location["root"], name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


async def overwrite(location: dict, name: str, data: bytes) -> None:
    if location["backend"] == "local":
        _path(location, name).write_bytes(data)
        return
    async with _container(location) as container:
        await container.get_blob_client(name).upload_blob(data, overwrite=True)


async def remove(location: dict, name: str) -> None:
    if location["backend"] == "local":
        Path(location["root"], name).unlink()
        return
    async with _container(location) as container:
        await container.get_blob_client(name).delete_blob()


async def read(location: dict, name: str) -> bytes:
    if location["backend"] == "local":
        return Path(location["root"], name).read_bytes()
    async with _container(location) as container:
        return await (await container.get_blob_client(name).download_blob()).readall()


async def names(location: dict, prefix: str) -> list[str]:
    if location["backend"] == "local":
        root = Path(location["root"])
        return sorted(
            p.relative_to(root).as_posix() for p in (root / prefix).rglob("*") if p.is_file()
        )
    async with _container(location) as container:
        return sorted([b.name async for b in container.list_blobs(name_starts_with=prefix)])


def chained(entries: list[LedgerEntry]) -> bytes:
    """A ledger segment holding ``entries``, its hash chain computed as the service does."""
    prev, lines = GENESIS, []
    for entry in entries:
        line, prev = entry_line(prev, entry)
        lines.append(line)
    return b"".join(lines)


def entries_of(segment: bytes) -> list[LedgerEntry]:
    out = []
    for raw in segment.splitlines():
        line = json.loads(raw)
        out.append(LedgerEntry(line["n"], line["s"], line["i"]))
    return out


async def rewrite_segment(location: dict, name: str, data: bytes) -> None:
    """Replace a ledger segment wholesale (an append blob again on Azure, as the service's)."""
    if location["backend"] == "local":
        _path(location, name).write_bytes(data)
        return
    async with _container(location) as container:
        blob = container.get_blob_client(name)
        if await blob.exists():
            await blob.delete_blob()
        await blob.create_append_blob()
        if data:
            await blob.append_block(data)
