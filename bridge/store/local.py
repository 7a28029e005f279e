"""The embedded default backend: a local directory of plain files.

Records are canonical-JSON files anyone can read with ordinary tools. Writes are atomic and
exclusive (write a temporary file, fsync, then hard-link it into place, which fails if the
name exists), so several processes writing the same event leave exactly one file.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bridge.errors import (
    ArchiveUnavailable,
    ConcurrentUpdate,
    NotSupportedByBackend,
    RecordNotFound,
)
from bridge.ids import check_blob_name
from bridge.store.base import BlobInfo, StoredDoc

_CHUNK = 1024 * 1024
_TMP_DIR = ".tmp"
_LOCK_DIR = ".locks"
#: The search index beside a local archive (bridge/readside/index.py); never part of the archive.
_INDEX_DIR = ".index"


class LocalStore:
    """``ArchiveStore`` over a directory."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root).expanduser().absolute()
        self.description = f"local directory {self.root}"
        self._fsync = fsync
        #: File work runs on threads of its own, so that a slow fsync never holds up other work
        #: that uses the event loop's default executor (the Bot Connector SDK's HTTP calls).
        self._threads: ThreadPoolExecutor | None = None

    # -- helpers -------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        try:
            check_blob_name(name)
        except ValueError as exc:
            raise ArchiveUnavailable(str(exc)) from exc
        if name.split("/")[0] in (_TMP_DIR, _LOCK_DIR, _INDEX_DIR):
            raise ArchiveUnavailable(f"reserved name {name!r}")
        return self.root / name

    def _tmpfile(self) -> tuple[int, str]:
        tmpdir = self.root / _TMP_DIR
        tmpdir.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=tmpdir, prefix="w-")

    def _write_tmp(self, data: bytes) -> str:
        fd, tmp = self._tmpfile()
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                if self._fsync:
                    os.fsync(fh.fileno())
        except BaseException:
            _unlink(tmp)
            raise
        return tmp

    def _link_into_place(self, tmp: str, path: Path) -> bool:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            _unlink(tmp)
        return True

    async def _thread(self, fn, *args):
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="wabridge-archive")
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    async def _run(self, fn, *args):
        try:
            return await self._thread(fn, *args)
        except (RecordNotFound, ConcurrentUpdate, ArchiveUnavailable):
            raise
        except FileNotFoundError as exc:
            raise RecordNotFound(str(exc.filename or exc)) from exc
        except OSError as exc:
            raise ArchiveUnavailable(
                f"local archive at {self.root}: {exc.strerror or exc}"
            ) from exc

    # -- protocol ------------------------------------------------------------------------
    async def ensure_ready(self) -> None:
        def check() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise ArchiveUnavailable(f"local archive {self.root} is not writable")

        await self._run(check)

    async def create(self, name, data, *, content_type="application/json", tags=None) -> bool:
        path = self._path(name)

        def write() -> bool:
            if path.exists():
                return False
            return self._link_into_place(self._write_tmp(data), path)

        return await self._run(write)

    async def create_stream(self, name, chunks: AsyncIterable[bytes], *, content_type) -> bool:
        path = self._path(name)
        if await self.exists(name):
            # Drain nothing: the caller's iterator is simply not consumed.
            return False
        fd, tmp = await self._run(self._tmpfile)
        fh = os.fdopen(fd, "wb")
        try:
            async for chunk in chunks:
                await self._thread(fh.write, chunk)
            fh.flush()
            if self._fsync:
                await self._thread(os.fsync, fh.fileno())
        except OSError as exc:
            fh.close()
            _unlink(tmp)
            raise ArchiveUnavailable(f"local archive: {exc}") from exc
        except BaseException:
            fh.close()
            _unlink(tmp)
            raise
        fh.close()
        return await self._run(self._link_into_place, tmp, path)

    async def read(self, name: str) -> bytes:
        path = self._path(name)
        return await self._run(path.read_bytes)

    async def read_from(self, name: str, offset: int, length: int | None = None) -> bytes:
        """The content from byte ``offset`` on, at most ``length`` bytes (a ledger segment's new
        lines)."""
        path = self._path(name)

        def read() -> bytes:
            with path.open("rb") as fh:
                fh.seek(offset)
                return fh.read(-1 if length is None else length)

        return await self._run(read)

    async def read_many(self, names: list[str]) -> list[bytes | None]:
        """Several small blobs in one go (None for an absent one): bulk reads, e.g. reindexing."""
        paths = [self._path(n) for n in names]

        def read_all() -> list[bytes | None]:
            out: list[bytes | None] = []
            for path in paths:
                try:
                    out.append(path.read_bytes())
                except FileNotFoundError:
                    out.append(None)
            return out

        return await self._run(read_all)

    async def read_stream(self, name: str) -> AsyncIterator[bytes]:
        path = self._path(name)
        fh = await self._run(open, path, "rb")
        try:
            while chunk := await self._thread(fh.read, _CHUNK):
                yield chunk
        finally:
            fh.close()

    async def exists(self, name: str) -> bool:
        path = self._path(name)
        return await self._run(path.exists)

    async def get_doc(self, name: str) -> StoredDoc | None:
        path = self._path(name)

        def get() -> StoredDoc | None:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                return None
            return StoredDoc(data, _etag(data))

        return await self._run(get)

    def _locked(self, name: str):
        lockdir = self.root / _LOCK_DIR
        lockdir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]
        fh = open(lockdir / digest, "a+b")  # noqa: SIM115 - closed by the caller
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        return fh

    async def put_doc(self, name, data, *, etag, content_type="application/json") -> str:
        path = self._path(name)

        def put() -> str:
            lock = self._locked(name)
            try:
                try:
                    current = _etag(path.read_bytes())
                except FileNotFoundError:
                    current = None
                if current != etag:
                    raise ConcurrentUpdate(f"{name} changed (expected {etag}, found {current})")
                tmp = self._write_tmp(data)
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
                return _etag(data)
            finally:
                lock.close()

        return await self._run(put)

    async def delete_doc(self, name: str, *, etag: str | None = None) -> None:
        path = self._path(name)

        def delete() -> None:
            lock = self._locked(name)
            try:
                if etag is not None:
                    try:
                        current = _etag(path.read_bytes())
                    except FileNotFoundError:
                        return
                    if current != etag:
                        raise ConcurrentUpdate(f"{name} changed")
                _unlink(str(path))
            finally:
                lock.close()

        await self._run(delete)

    async def append(self, name: str, data: bytes) -> None:
        path = self._path(name)

        def append() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)

        await self._run(append)

    async def list(self, prefix: str) -> AsyncIterator[BlobInfo]:
        base = self.root
        # Walk only below the deepest directory the prefix names.
        head, _, _ = prefix.rpartition("/")
        start = base / head if head else base
        if not await self._thread(start.is_dir):
            return
        entries = await self._thread(_walk_sorted, start, base)
        for rel, size in entries:
            if rel.startswith(prefix):
                yield BlobInfo(rel, size)

    async def find_by_tags(self, expression: str) -> list[str] | None:
        return None

    async def set_legal_hold(self, name: str, hold: bool) -> None:
        raise NotSupportedByBackend(
            "a local directory has no storage-level legal hold; the application hold registry "
            "still applies"
        )

    async def close(self) -> None:
        # Wait for file work already handed to the threads: a write whose caller was cancelled
        # still lands, and must land before the store counts as closed.
        threads, self._threads = self._threads, None
        if threads is not None:
            await asyncio.to_thread(threads.shutdown, wait=True)


def _walk_sorted(start: Path, base: Path) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for dirpath, dirnames, filenames in os.walk(start):
        if Path(dirpath) == base:
            dirnames[:] = [d for d in dirnames if d not in (_TMP_DIR, _LOCK_DIR, _INDEX_DIR)]
        dirnames.sort()
        for fname in sorted(filenames):
            full = Path(dirpath) / fname
            try:
                size = full.stat().st_size
            except FileNotFoundError:
                continue
            out.append((full.relative_to(base).as_posix(), size))
    out.sort()
    return out


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
