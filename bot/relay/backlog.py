"""What has not reached Teams yet: the ledger not yet followed and the records parked per contact.

Read only; for ``wabridge archive pending``, so that an operator sees a relay that is waiting
(no inbox bound, Bot Connector down, an instance holding the lease that died).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.relay.feed import unfollowed
from bot.relay.state import FEED_DOC, INBOX, PENDING_PREFIX, FeedCursor, InboxBinding, ParkedQueue
from bridge.ledger import segment_sizes
from bridge.state import DocStore
from bridge.store.base import ArchiveStore


@dataclass(frozen=True)
class ParkedRecord:
    conversation: str
    record_id: str
    attempts: int


@dataclass
class RelayBacklog:
    inbox_bound: bool
    #: Ledger bytes the relay has not handled yet (about 260 bytes per record).
    ledger_bytes_behind: int
    #: Who holds the feed's lease and until when (epoch seconds), if anyone.
    lease_owner: str | None = None
    lease_until: float | None = None
    parked: list[ParkedRecord] = field(default_factory=list)


async def relay_backlog(store: ArchiveStore) -> RelayBacklog:
    feed = await DocStore(store, FeedCursor).get(FEED_DOC) or FeedCursor()
    sizes = await segment_sizes(store)
    behind = sum(sizes[name] - handled for name, handled in unfollowed(sizes, feed).items())
    backlog = RelayBacklog(
        inbox_bound=await DocStore(store, InboxBinding).get(INBOX) is not None,
        ledger_bytes_behind=behind,
        lease_owner=feed.lease.owner,
        lease_until=feed.lease.until if feed.lease.owner else None,
    )
    queues = DocStore(store, ParkedQueue)
    for name in await queues.names(PENDING_PREFIX):
        queue = await queues.get(name) or ParkedQueue("?")
        for item in queue.items:
            backlog.parked.append(ParkedRecord(queue.conversation or "?", item.id, item.attempts))
    return backlog
