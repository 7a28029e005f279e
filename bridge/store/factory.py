"""Pick the archive backend from configuration (``ARCHIVE_URL`` or a connection string)."""

from __future__ import annotations

from bridge.store.base import ArchiveStore

DEFAULT_ARCHIVE_URL = "./archive"
DEFAULT_CONTAINER = "wabridge-archive"
#: How an Azure archive writes records (``WABRIDGE_BLOB_WRITER``): ``rest``, the Put Blob request
#: sent directly (bridge/store/put_blob.py); ``sdk``, the same request through ``upload_blob``.
BLOB_WRITERS = ("rest", "sdk")


def open_store(
    archive_url: str | None = None,
    *,
    connection_string: str | None = None,
    container: str | None = None,
    blob_writer: str = "rest",
) -> ArchiveStore:
    """The store that configuration names.

    A connection string (with a container) wins; otherwise ``archive_url`` is an
    ``https://ACCOUNT.blob.core.windows.net/CONTAINER`` URL (DefaultAzureCredential) or a
    directory path (default ``./archive``). ``blob_writer`` (``rest`` or ``sdk``) says how an
    Azure archive writes records.
    """
    if archive_url and archive_url.startswith(("https://", "http://")):
        from bridge.store.azure_blob import AzureBlobStore

        return AzureBlobStore.from_container_url(archive_url, blob_writer=blob_writer)
    if connection_string and not archive_url:
        from bridge.store.azure_blob import AzureBlobStore

        return AzureBlobStore.from_connection_string(
            connection_string, container or DEFAULT_CONTAINER, blob_writer=blob_writer
        )
    from bridge.store.local import LocalStore

    return LocalStore(archive_url or DEFAULT_ARCHIVE_URL)


def store_description(store: ArchiveStore) -> str:
    return getattr(store, "description", type(store).__name__)
