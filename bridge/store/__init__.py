"""Storage backends behind one protocol, and the factory that picks one from configuration."""

from bridge.store.base import ArchiveStore, BlobInfo, StoredDoc
from bridge.store.factory import open_store, store_description

__all__ = ["ArchiveStore", "BlobInfo", "StoredDoc", "open_store", "store_description"]
