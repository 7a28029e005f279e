"""Closing the local store waits for file work already under way."""

from __future__ import annotations

import asyncio
import os
import threading

from bridge.store.local import LocalStore


async def test_a_write_whose_caller_was_cancelled_has_landed_when_close_returns(
    tmp_path, monkeypatch
) -> None:
    store = LocalStore(tmp_path / "archive")
    await store.ensure_ready()
    started, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        started.set()
        release.wait(5)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    try:
        write = asyncio.create_task(store.create("state/probe.json", b"{}"))
        await asyncio.to_thread(started.wait, 5)
        write.cancel()  # e.g. the service shutting down mid-write
        closing = asyncio.create_task(store.close())
        await asyncio.sleep(0.2)
        assert not closing.done(), "close returned while a write was still in flight"
        release.set()
        await closing
    finally:
        release.set()
    assert (tmp_path / "archive" / "state" / "probe.json").read_bytes() == b"{}"
