"""Per-contact lanes: each contact's records handled one after another, contacts side by side.

A record handed to :meth:`ContactLanes.submit` joins its contact's lane, in record-id order
among those not started yet. One task per busy lane hands the lane's records to ``handle`` (the
worker posts them, or parks them), at most ``at_once`` lanes at a time, so that one contact's
slow thread never holds the others up and no contact's records overtake each other.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bridge.record import Record

log = logging.getLogger("wabridge.relay")


@dataclass(order=True)
class LaneItem:
    """One record for a lane; ``done`` is called once it is handled (shown or parked)."""

    record_id: str
    name: str = field(compare=False)
    record: Record = field(compare=False)
    done: Callable[[], None] = field(compare=False, default=lambda: None)


#: Handles the next records of one contact, in order; returns how many of them it handled
#: (the rest stay in the lane, in front).
Handler = Callable[[str, list[LaneItem]], Awaitable[int]]


class ContactLanes:
    def __init__(self, handle: Handler, *, at_once: int = 16) -> None:
        self._handle = handle
        self._queues: dict[str, list[LaneItem]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(at_once)
        self._idle = asyncio.Event()
        self._idle.set()
        self._moved = asyncio.Event()

    @property
    def busy(self) -> int:
        """How many records wait or are being handled."""
        return sum(len(q) for q in self._queues.values())

    def submit(self, conversation: str, item: LaneItem) -> None:
        queue = self._queues.setdefault(conversation, [])
        bisect.insort(queue, item)
        self._idle.clear()
        if conversation not in self._tasks:
            self._tasks[conversation] = asyncio.create_task(
                self._run(conversation), name=f"wabridge-lane-{conversation}"
            )

    async def idle(self) -> None:
        """Wait until every lane is empty."""
        await self._idle.wait()

    async def below(self, limit: int) -> None:
        """Wait until no more than ``limit`` records wait or are being handled."""
        while self.busy > limit and self._tasks:
            self._moved.clear()
            await self._moved.wait()

    async def cancel(self) -> None:
        """Stop every lane (at shutdown); what was not handled stays unhandled."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._queues.clear()
        self._idle.set()

    async def _run(self, conversation: str) -> None:
        try:
            async with self._slots:
                queue = self._queues[conversation]
                while queue:
                    batch = list(queue)
                    try:
                        handled = await self._handle(conversation, batch)
                    except Exception:  # noqa: BLE001 - the lane must go on; the records wait
                        log.exception("relay lane of %s failed", conversation)
                        handled = 0
                    if handled <= 0:
                        return  # left in the lane; the next submit or pass starts it again
                    for item in batch[:handled]:
                        queue.remove(item)
                    self._moved.set()
        finally:
            self._tasks.pop(conversation, None)
            if not self._queues.get(conversation):
                self._queues.pop(conversation, None)
            if not self._tasks:
                self._idle.set()
            self._moved.set()

    def restart(self) -> None:
        """Start the lanes that stopped with records left in them."""
        for conversation, queue in self._queues.items():
            if queue and conversation not in self._tasks:
                self._idle.clear()
                self._tasks[conversation] = asyncio.create_task(
                    self._run(conversation), name=f"wabridge-lane-{conversation}"
                )
