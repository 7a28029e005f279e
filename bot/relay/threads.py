"""Thread mapping: each WhatsApp contact's thread in the inbox, and the contact of a thread.

A contact's first post starts its thread. Starting is claimed first, in the contact's thread
document (a :class:`bridge.state.Lease` kept as ``claim``/``claimed_until``), so that however
many workers or instances try at once, one posts and the others wait for its thread; a claim
whose holder died lapses after ``CLAIM_SECONDS``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from typing import Any

from bot.ports import TeamsPoster
from bot.relay.parked import RetryLater
from bot.relay.state import (
    ContactThread,
    InboxBinding,
    ThreadIndex,
    teams_thread_doc,
    thread_doc,
)
from bridge.errors import ArchiveUnavailable, ConcurrentUpdate
from bridge.record import now_rfc3339
from bridge.state import DocStore, LeaseKeeper
from bridge.store.base import ArchiveStore

#: How long a claim to start a contact's thread holds if its holder never finishes.
CLAIM_SECONDS = 300.0
#: Started threads remembered (a started thread's document never changes again).
REMEMBERED_THREADS = 10_000


class ThreadMap:
    """The threads of one archive's contacts, started through ``poster`` when needed."""

    def __init__(self, store: ArchiveStore, poster: TeamsPoster, *, instance: str) -> None:
        self._poster = poster
        self.instance = instance
        self._threads = DocStore(store, ContactThread)
        self._index = DocStore(store, ThreadIndex)
        #: Claims this instance may hold: document name -> its keeper.
        self._claims: dict[str, LeaseKeeper] = {}
        self._started: OrderedDict[str, ContactThread] = OrderedDict()

    async def of_conversation(self, conversation: str) -> ContactThread | None:
        """The contact's thread, if it has been started."""
        known = self._started.get(conversation)
        if known is not None:
            self._started.move_to_end(conversation)
            return known
        thread = await self._threads.get(thread_doc(conversation))
        if thread is None or not thread.started:
            return None
        self._remember(thread)
        return thread

    def _remember(self, thread: ContactThread) -> None:
        self._started[thread.conversation] = thread
        self._started.move_to_end(thread.conversation)
        while len(self._started) > REMEMBERED_THREADS:
            self._started.popitem(last=False)

    async def of_teams_thread(self, thread_id: str) -> ContactThread | None:
        """The contact thread that the Teams conversation ``thread_id`` is, if it is one."""
        index = await self._index.get(teams_thread_doc(thread_id))
        return None if index is None else await self.of_conversation(index.conversation)

    async def ensure(
        self,
        conversation: str,
        wa_id: str | None,
        binding: InboxBinding,
        first_post: dict[str, Any],
    ) -> tuple[ContactThread, str | None]:
        """The contact's thread; if there is none, start it with ``first_post``.

        Returns the thread and, when this call started it, the root post's id. Raises
        :class:`RetryLater` while another worker is starting it.
        """
        name = thread_doc(conversation)
        existing = await self.of_conversation(conversation)
        if existing is not None:
            return existing, None
        keeper = LeaseKeeper(
            self._threads,
            uuid.uuid4().hex,
            CLAIM_SECONDS,
            attr="claim",
            create=lambda: ContactThread(conversation, wa_id or ""),
        )
        self._claims[name] = keeper
        try:
            claimed = await keeper.take(name, attempts=50, eligible=lambda t: not t.started)
            if claimed is None:
                started = await self.of_conversation(conversation)
                if started is not None:
                    return started, None
                raise RetryLater(f"the thread of {conversation} is being started elsewhere")
            thread_id, root = await self._poster.post_new_thread(
                binding.endpoint, binding.channel_id, first_post
            )
        except BaseException:
            # Also when cancelled (e.g. at shutdown) after the claim was written but before we
            # saw it: give the claim up, so that another worker need not wait for it to lapse.
            await asyncio.shield(self._drop(name, keeper))
            raise
        self._claims.pop(name, None)
        thread = ContactThread(
            conversation=conversation,
            wa_id=wa_id or "",
            thread_id=thread_id,
            root_activity_id=root,
            channel_id=binding.channel_id,
            service_url=binding.service_url,
            tenant_id=binding.tenant_id,
            bot_id=binding.bot_id,
            created_at=now_rfc3339(),
            created_by=self.instance,
        )
        await self._threads.put(name, thread)
        await self._index.put(teams_thread_doc(thread_id), ThreadIndex(conversation, thread_id))
        self._remember(thread)
        return thread, root

    async def release_claims(self) -> None:
        """Give up every claim this instance was interrupted holding (at shutdown)."""
        for name, keeper in list(self._claims.items()):
            await self._drop(name, keeper)

    async def _drop(self, name: str, keeper: LeaseKeeper) -> None:
        self._claims.pop(name, None)
        try:
            await keeper.release(name)
        except (ConcurrentUpdate, ArchiveUnavailable):
            pass  # the claim lapses on its own
