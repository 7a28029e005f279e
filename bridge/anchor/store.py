"""Where checkpoints are kept: the anchor, outside the archive.

``WABRIDGE_ANCHOR_URL`` names it: an ``https://ACCOUNT.blob.core.windows.net/CONTAINER`` URL
(DefaultAzureCredential, as ``ARCHIVE_URL``), or a directory that is not inside the archive's;
``WABRIDGE_ANCHOR_CONTAINER`` instead names a container reached with
``AZURE_STORAGE_CONNECTION_STRING`` (the emulator in tests). Checkpoints are written
create-only (``If-None-Match: *`` on Azure, an exclusive link locally) under
``checkpoints/<yyyy>/<mm>/<dd>/<time>-<writer>.json``, so they sort by time, are never
overwritten, and several writers never collide.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.anchor.checkpoint import Checkpoint
from bridge.errors import ArchiveUnavailable
from bridge.store.base import ArchiveStore

CHECKPOINT_PREFIX = "checkpoints/"


class AnchorMisplaced(ValueError):
    """The anchor is configured where whoever writes the archive also writes it."""


class AnchorStore:
    """Checkpoints in one container or directory."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store
        self.description = getattr(store, "description", type(store).__name__)

    async def ensure_ready(self) -> None:
        await self.store.ensure_ready()

    async def put(self, checkpoint: Checkpoint, writer_token: str) -> str:
        """Store ``checkpoint`` under a new name; returns the name."""
        base = checkpoint_name(checkpoint.moment, writer_token)
        data = checkpoint.to_bytes()
        for attempt in range(100):
            name = base if attempt == 0 else base.replace(".json", f"-{attempt}.json")
            if await self.store.create(name, data):
                return name
        raise FileExistsError(f"no free checkpoint name near {base}")

    async def names(self, prefix: str = CHECKPOINT_PREFIX) -> list[str]:
        """Every checkpoint's name, oldest first."""
        try:
            return [i.name async for i in self.store.list(prefix) if i.name.endswith(".json")]
        except ArchiveUnavailable as exc:
            raise ArchiveUnavailable(f"anchor {self.description}: {exc}") from exc

    async def read(self, name: str) -> bytes:
        try:
            return await self.store.read(name)
        except ArchiveUnavailable as exc:
            raise ArchiveUnavailable(f"anchor {self.description}: {exc}") from exc

    async def newest_name(self, now: datetime | None = None) -> str | None:
        """The newest checkpoint of today or yesterday (by its name), if any."""
        now = now or datetime.now(UTC)
        for moment in (now, now - timedelta(days=1)):
            found = await self.names(CHECKPOINT_PREFIX + moment.strftime("%Y/%m/%d/"))
            if found:
                return found[-1]
        return None

    async def close(self) -> None:
        await self.store.close()


def checkpoint_name(moment: datetime, writer_token: str) -> str:
    moment = moment.astimezone(UTC)
    return (
        f"{CHECKPOINT_PREFIX}{moment:%Y/%m/%d}/{moment:%Y%m%dT%H%M%S}"
        f".{moment.microsecond:06d}Z-{writer_token}.json"
    )


def name_time(name: str) -> datetime | None:
    """The time a checkpoint's name gives (None for a name not made by :func:`checkpoint_name`)."""
    stem = name.rsplit("/", 1)[-1].split("Z-", 1)[0]
    try:
        return datetime.strptime(stem, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
    except ValueError:
        return None


def open_anchor(
    anchor_url: str | None,
    *,
    container: str | None = None,
    connection_string: str | None = None,
    archive: ArchiveStore | None = None,
) -> AnchorStore | None:
    """The anchor that configuration names (None when none is), refusing one that lives inside
    the archive (``archive``) with :class:`AnchorMisplaced`."""
    if anchor_url and container:
        raise ValueError("set WABRIDGE_ANCHOR_URL or WABRIDGE_ANCHOR_CONTAINER, not both")
    if anchor_url and anchor_url.startswith(("https://", "http://")):
        from bridge.store.azure_blob import AzureBlobStore

        if not anchor_url.startswith("https://"):
            raise ValueError(
                f"WABRIDGE_ANCHOR_URL must be an https:// container URL, not {anchor_url!r}"
            )
        account, _, name = anchor_url.split("?", 1)[0].rstrip("/").rpartition("/")
        if archive is not None and _same_container(archive, account, name):
            raise AnchorMisplaced(
                f"WABRIDGE_ANCHOR_URL (or --anchor) {anchor_url} is the archive's own container: "
                "checkpoints must live where whoever can write the archive cannot rewrite them"
            )
        return AnchorStore(AzureBlobStore.from_container_url(anchor_url))
    if container:
        from bridge.store.azure_blob import AzureBlobStore

        if not connection_string:
            raise ValueError("WABRIDGE_ANCHOR_CONTAINER needs AZURE_STORAGE_CONNECTION_STRING")
        store = AzureBlobStore.from_connection_string(connection_string, container)
        if archive is not None and _same_container(archive, *_url_parts(store)):
            raise AnchorMisplaced(
                f"WABRIDGE_ANCHOR_CONTAINER {container} is the archive's own container: "
                "checkpoints must live where whoever can write the archive cannot rewrite them"
            )
        return AnchorStore(store)
    if not anchor_url:
        return None
    from bridge.store.local import LocalStore

    root = Path(anchor_url).expanduser()
    archive_root = getattr(archive, "root", None)
    if archive_root is not None and _inside(root, Path(archive_root)):
        raise AnchorMisplaced(
            f"WABRIDGE_ANCHOR_URL (or --anchor) {root} is inside the archive directory "
            f"{archive_root}: "
            "checkpoints must live where whoever can write the archive cannot rewrite them; "
            "choose a directory outside it (another disk or host is better still)"
        )
    return AnchorStore(LocalStore(root))


def _inside(path: Path, root: Path) -> bool:
    resolved, base = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return resolved == base or base in resolved.parents


def _url_parts(store: object) -> tuple[str, str]:
    url = str(getattr(store, "container_url", "")).split("?", 1)[0].rstrip("/")
    account, _, name = url.rpartition("/")
    return account, name


def _same_container(archive: ArchiveStore, account: str, name: str) -> bool:
    archive_account, archive_name = _url_parts(archive)
    return bool(archive_name) and (archive_account.lower(), archive_name) == (account.lower(), name)
