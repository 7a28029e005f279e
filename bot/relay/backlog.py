"""What has not reached Teams yet: the ledger not yet followed and the records parked per contact.

Read only; for ``wabridge archive pending``, so that an operator sees a relay that is waiting
(no inbox bound, Bot Connector down, an instance holding the lease that died).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.relay.docs import INBOX, PENDING_PREFIX, read_json
from bot.relay.feed import FEED_DOC, unfollowed
from bridge.ledger import segment_sizes
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
    feed = await read_json(store, FEED_DOC) or {}
    sizes = await segment_sizes(store)
    behind = sum(sizes[name] - handled for name, handled in unfollowed(sizes, feed).items())
    lease = feed.get("lease") or {}
    backlog = RelayBacklog(
        inbox_bound=await read_json(store, INBOX) is not None,
        ledger_bytes_behind=behind,
        lease_owner=lease.get("owner"),
        lease_until=lease.get("until"),
    )
    async for info in store.list(PENDING_PREFIX):
        doc = await read_json(store, info.name) or {}
        for item in doc.get("items") or []:
            backlog.parked.append(
                ParkedRecord(
                    str(doc.get("conversation") or "?"),
                    str(item.get("id") or "?"),
                    int(item.get("attempts") or 0),
                )
            )
    return backlog
