"""The bound inbox channel (``state/teams/inbox.json``), read through a short-lived cache.

Every post and every pass of the worker asks for the binding; it changes only when an admin
sends ``setup``. This instance learns of its own ``setup`` at once (:meth:`InboxCache.bound`);
one made through another instance is seen within ``ttl`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.relay.state import INBOX, InboxBinding
from bridge.state import DocStore
from bridge.store.base import ArchiveStore


class InboxCache:
    def __init__(
        self,
        store: ArchiveStore,
        *,
        ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._docs = DocStore(store, InboxBinding)
        self._ttl = ttl
        self._clock = clock
        self._binding: InboxBinding | None = None
        self._read_at: float | None = None

    async def get(self) -> InboxBinding | None:
        """The binding (None while no inbox is bound), at most ``ttl`` seconds old."""
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._ttl:
            self._binding = await self._docs.get(INBOX)
            self._read_at = now
        return self._binding

    async def bind(self, binding: InboxBinding) -> InboxBinding | None:
        """Store ``binding`` as the inbox; returns the one it replaces (None: the first)."""
        previous = await self._docs.get(INBOX)
        await self._docs.put(INBOX, binding)
        self.bound(binding)
        return previous

    def bound(self, binding: InboxBinding) -> None:
        self._binding = binding
        self._read_at = self._clock()
