"""What an insider with raw storage access could do, behind the application's back."""

from __future__ import annotations

from pathlib import Path

from azure.storage.blob.aio import BlobServiceClient


async def overwrite(location: dict, name: str, data: bytes) -> None:
    if location["backend"] == "local":
        Path(location["root"], name).parent.mkdir(parents=True, exist_ok=True)
        Path(location["root"], name).write_bytes(data)
        return
    async with BlobServiceClient.from_connection_string(
        location["env"]["AZURE_STORAGE_CONNECTION_STRING"]
    ) as svc:
        blob = svc.get_blob_client(location["env"]["ARCHIVE_CONTAINER"], name)
        await blob.upload_blob(data, overwrite=True)


async def remove(location: dict, name: str) -> None:
    if location["backend"] == "local":
        Path(location["root"], name).unlink()
        return
    async with BlobServiceClient.from_connection_string(
        location["env"]["AZURE_STORAGE_CONNECTION_STRING"]
    ) as svc:
        await svc.get_blob_client(location["env"]["ARCHIVE_CONTAINER"], name).delete_blob()
