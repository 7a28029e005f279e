"""Writing checkpoints: one by hand (:func:`checkpoint_now`, into the anchor or a new file), and
the service's writer, one into the anchor every few minutes (:class:`CheckpointWriter`).

Every instance runs one, from start-up to shutdown (one last checkpoint then); an instance skips
its turn when another instance's checkpoint is younger than half the interval, so a scaled-out
service does not multiply checkpoints. A failure (storage or anchor unreachable) is logged and
tried again at the next turn: it never touches the acknowledgement path. Before each checkpoint
the ledger entries this instance still owes (a record stored, its ledger append failed) are
written, so that the checkpoint does not miss records that are in the archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.anchor.checkpoint import Checkpoint, CheckpointError, CheckpointMaker, parse_checkpoint
from bridge.anchor.identity import ensure_archive_id, read_archive_id
from bridge.anchor.store import CHECKPOINT_PREFIX, AnchorStore, name_time
from bridge.archive import Archive
from bridge.errors import ArchiveError
from bridge.ids import LEDGER_PREFIX
from bridge.store.base import ArchiveStore

log = logging.getLogger("wabridge.checkpoints")

DEFAULT_INTERVAL = 300.0
#: How long the last checkpoint at shutdown may take.
FINAL_SECONDS = 5.0


class NoArchive(LookupError):
    """The store holds no archive (no identity, no ledger) to take a checkpoint of."""


async def take_checkpoint(store: ArchiveStore, writer: str) -> Checkpoint:
    """A checkpoint of the archive in ``store`` as it is now, computed from the ledger alone (so
    that it does not depend on any anchor); raises :class:`NoArchive`."""
    if await read_archive_id(store) is None:
        async for _ in store.list(LEDGER_PREFIX):
            break
        else:
            raise NoArchive(f"no archive at {getattr(store, 'description', store)}")
    return await CheckpointMaker(store, await ensure_archive_id(store), writer).make()


def write_checkpoint_file(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to a new file (``FileExistsError`` if ``path`` exists), synced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(checkpoint.to_bytes())
        fh.flush()
        os.fsync(fh.fileno())


async def checkpoint_now(
    store: ArchiveStore,
    writer: str,
    *,
    anchor: AnchorStore | None = None,
    out: Path | None = None,
) -> tuple[Checkpoint, str]:
    """Take a checkpoint of the archive in ``store`` and keep it in ``anchor``, or else in the
    new file ``out``; returns it and where it went. Raises :class:`NoArchive`, and
    ``FileExistsError`` when ``out`` exists."""
    if (anchor is None) == (out is None):
        raise ValueError("a checkpoint goes into an anchor or a file: give one of them")
    checkpoint = await take_checkpoint(store, writer)
    if anchor is None:
        write_checkpoint_file(out, checkpoint)
        return checkpoint, str(out)
    await anchor.ensure_ready()
    name = await anchor.put(checkpoint, os.urandom(4).hex())
    return checkpoint, f"{name} in {anchor.description}"


class CheckpointWriter:
    """Writes a checkpoint of ``archive`` into ``anchor`` every ``interval`` seconds."""

    def __init__(
        self,
        archive: Archive,
        anchor: AnchorStore,
        *,
        interval: float = DEFAULT_INTERVAL,
        writer: str | None = None,
    ) -> None:
        self.archive = archive
        self.anchor = anchor
        self.interval = interval
        self.writer = writer or f"wabridge serve on {socket.gethostname()}"
        self.token = os.urandom(4).hex()
        self.written: list[str] = []
        self._maker: CheckpointMaker | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="wabridge-checkpoints")

    async def stop(self) -> None:
        """Stop the turns, then write one last checkpoint (bounded by ``FINAL_SECONDS``), so that
        what this instance archived last is anchored when it shuts down."""
        self._stop.set()
        if self._task is None:
            return
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        try:
            async with asyncio.timeout(FINAL_SECONDS):
                await self.turn()
        except Exception as exc:  # noqa: BLE001 - shutting down; the next instance anchors it
            log.warning("no checkpoint at shutdown: %s", exc or type(exc).__name__)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.turn()
            except (ArchiveError, OSError, ValueError) as exc:
                log.warning("checkpoint not written (tried again in %gs): %s", self.interval, exc)
            except Exception:  # noqa: BLE001 - the writer must outlive any single failure
                log.exception("checkpoint not written (tried again in %gs)", self.interval)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._stop.wait()

    async def turn(self, now: datetime | None = None) -> str | None:
        """Write a checkpoint unless another instance wrote one lately; returns its name."""
        now = now or datetime.now(UTC)
        await self.archive.settle_ledger()
        maker = await self._ready_maker()
        newest = await self.anchor.newest_name(now)
        newest_at = name_time(newest) if newest else None
        if (
            newest_at is not None
            and newest not in self.written
            and now - newest_at < timedelta(seconds=self.interval / 2)
        ):
            log.debug("checkpoint %s is recent; this turn is skipped", newest)
            return None
        checkpoint = await maker.make(now)
        name = await self.anchor.put(checkpoint, self.token)
        self.written = [*self.written[-9:], name]
        log.info(
            "checkpoint %s: %d segment(s), %d ledger entries",
            name,
            len(checkpoint.segments),
            checkpoint.entries,
        )
        return name

    async def _ready_maker(self) -> CheckpointMaker:
        if self._maker is None:
            await self.anchor.ensure_ready()
            archive_id = await ensure_archive_id(self.archive.store)
            maker = CheckpointMaker(self.archive.store, archive_id, self.writer, alarm=log.error)
            previous = await self._newest_valid(archive_id)
            if previous is not None:
                maker.adopt(previous)
            self._maker = maker
        return self._maker

    async def _newest_valid(self, archive_id: str) -> Checkpoint | None:
        """The newest checkpoint of this archive in the anchor, to continue its sealed digest."""
        now = datetime.now(UTC)
        names = []
        for moment in (now - timedelta(days=1), now):
            names += await self.anchor.names(CHECKPOINT_PREFIX + moment.strftime("%Y/%m/%d/"))
        if not names:
            names = await self.anchor.names()
        for name in reversed(names[-20:]):
            try:
                checkpoint = parse_checkpoint(await self.anchor.read(name))
            except CheckpointError as exc:
                log.error("checkpoint %s in the anchor is unusable: %s", name, exc)
                continue
            if checkpoint.archive == archive_id:
                return checkpoint
        return None
