"""The relay's view of the ledger: the archived records Teams has not been shown yet.

Every record the archive accepts is listed in the ledger (``bridge/ledger.py``), durably, before
the webhook answers Meta. So the relay keeps no queue of its own on the acknowledgement path: it
follows the ledger, as the search index does. One instance at a time holds the feed's lease in
``state/relay/feed.json``, beside the cursor: for every ledger segment, how many of its bytes the
relay has handled. Past days' segments, once handled to their end, leave the cursor for a date,
``complete_before``, so that the cursor does not grow without end. An entry is handled once its
record is shown in Teams or parked in its contact's queue (``state/relay/pending/``) to be
retried; only then does the cursor pass it. An instance that dies holding the lease holds it no
longer than ``lease_seconds``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.relay.docs import read_json, update_json
from bridge.errors import ConcurrentUpdate
from bridge.ids import LEDGER_PREFIX, RECORDS_PREFIX, state_blob_name
from bridge.ledger import LedgerEntry, ledger_lines, read_ledger_from, segment_sizes
from bridge.store.base import ArchiveStore

FEED_DOC = state_blob_name("relay", "feed")
#: Records of WhatsApp conversations: the only ones Teams may show.
WHATSAPP_RECORDS = RECORDS_PREFIX + "wa:"
#: Ledger bytes read from one segment at a time (some 200 entries): the cursor moves after each
#: such batch, so an instance dying mid-batch leaves at most that much to be posted again.
READ_BYTES = 32 * 1024
#: Ledger bytes before the cursor read again when an instance takes the feed over, to know the
#: records it handled last (see ``SEEN_NAMES``).
SEED_BYTES = 128 * 1024
#: Record names remembered as handled. A redelivered event whose first entry was lost in a crash
#: is listed again in the ledger; one listed twice is still shown once.
SEEN_NAMES = 200_000
#: Days after which a day's segments, once all handled, leave the cursor. Writers start new
#: segments every UTC day, so a past day's segments no longer grow.
KEEP_DAYS = 2


def segment_day(name: str) -> str:
    """The UTC day (YYYY-MM-DD) of a ledger segment, from its name."""
    return name[len(LEDGER_PREFIX) :][:10]


def unfollowed(sizes: dict[str, int], doc: dict[str, Any]) -> dict[str, int]:
    """The segments with bytes the relay has not handled, each with the offset it handled up to
    (``sizes``: every segment's size; ``doc``: the feed document)."""
    cursor = doc.get("segments") or {}
    complete_before = str(doc.get("complete_before") or "")
    return {
        name: int(cursor.get(name, 0))
        for name, size in sizes.items()
        if segment_day(name) >= complete_before and size > int(cursor.get(name, 0))
    }


def prune(doc: dict[str, Any], sizes: dict[str, int], today: str) -> None:
    """Drop from the cursor the segments of whole past days (older than ``KEEP_DAYS``) that are
    handled to their end, day after day from the oldest, and move ``complete_before`` past
    them."""
    cutoff = (datetime.strptime(today, "%Y-%m-%d") - timedelta(days=KEEP_DAYS)).strftime("%Y-%m-%d")
    segments = doc.setdefault("segments", {})
    complete_before = str(doc.get("complete_before") or "")
    by_day: dict[str, list[str]] = {}
    for name in sizes:
        day = segment_day(name)
        if complete_before <= day < cutoff:
            by_day.setdefault(day, []).append(name)
    for day in sorted(by_day):
        names = by_day[day]
        if any(int(segments.get(n, 0)) < sizes[n] for n in names):
            break
        for name in names:
            segments.pop(name, None)
        next_day = datetime.strptime(day, "%Y-%m-%d") + timedelta(days=1)
        doc["complete_before"] = next_day.strftime("%Y-%m-%d")


class LeaseLost(Exception):
    """Another instance took the feed over (this one stalled past its lease)."""


@dataclass
class FeedBatch:
    """Ledger entries gained since the cursor: the WhatsApp ones not handled before, in ledger
    order, and where the cursor goes once they are handled."""

    entries: list[LedgerEntry] = field(default_factory=list)
    ends: dict[str, int] = field(default_factory=dict)
    more: bool = False
    #: Every segment's size when the batch was read (to prune the cursor with).
    sizes: dict[str, int] = field(default_factory=dict)


class LedgerFeed:
    """Reads the ledger for the relay under a lease, and moves the cursor."""

    def __init__(self, store: ArchiveStore, owner: str, *, lease_seconds: float = 60.0) -> None:
        self._store = store
        self.owner = owner
        self._lease = lease_seconds
        #: The feed document as this instance last wrote or read it (cursor and lease).
        self._doc: dict[str, Any] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seeded = False

    async def read(self) -> FeedBatch | None:
        """What the ledger gained since the cursor, or None when nothing did or another instance
        holds the feed. Takes (or renews) the lease when there is something to read."""
        sizes = await segment_sizes(self._store)
        doc = await read_json(self._store, FEED_DOC) or {}
        if not unfollowed(sizes, doc):
            return None
        if not await self._take():
            return None
        if not self._seeded:
            await self._seed()
        batch, fresh = FeedBatch(sizes=sizes), set()
        for segment, start in unfollowed(sizes, self._doc).items():
            data = await read_ledger_from(self._store, segment, start, READ_BYTES)
            end = 0
            for entry, line_end in ledger_lines(data):
                end = line_end
                if entry is None or not entry.name.startswith(WHATSAPP_RECORDS):
                    continue
                if entry.name in self._seen or entry.name in fresh:
                    continue
                fresh.add(entry.name)
                batch.entries.append(entry)
            if end:
                batch.ends[segment] = start + end
            batch.more = batch.more or len(data) >= READ_BYTES
        return batch

    async def commit(self, batch: FeedBatch) -> None:
        """Move the cursor past ``batch`` (and renew the lease); LeaseLost if it was taken."""
        until = time.time() + self._lease
        lost = False

        def advance(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            nonlocal lost
            doc = doc or {}
            if (doc.get("lease") or {}).get("owner") != self.owner:
                lost = True
                return None
            segments = doc.setdefault("segments", {})
            for segment, end in batch.ends.items():
                segments[segment] = max(segments.get(segment, 0), end)
            prune(doc, batch.sizes, datetime.now(UTC).strftime("%Y-%m-%d"))
            doc["lease"] = {"owner": self.owner, "until": until}
            return doc

        doc = await update_json(self._store, FEED_DOC, advance)
        if lost:
            raise LeaseLost(f"the relay feed is held by {(doc or {}).get('lease')}")
        self._doc = dict(doc or {})
        for entry in batch.entries:
            self._remember(entry.name)

    async def release(self) -> None:
        """Give the lease up (at shutdown), so that another instance takes over at once."""

        def release(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None or (doc.get("lease") or {}).get("owner") != self.owner:
                return None
            doc["lease"] = None
            return doc

        await update_json(self._store, FEED_DOC, release, attempts=3)

    async def _take(self) -> bool:
        now = time.time()

        def take(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            doc = doc or {"segments": {}}
            lease = doc.get("lease") or {}
            if lease.get("owner") not in (None, self.owner) and lease.get("until", 0) > now:
                return None
            doc["lease"] = {"owner": self.owner, "until": now + self._lease}
            return doc

        try:
            doc = await update_json(self._store, FEED_DOC, take, attempts=3)
        except ConcurrentUpdate:
            return False
        if not doc or (doc.get("lease") or {}).get("owner") != self.owner:
            self._seeded = False  # another instance feeds; what it handles we do not see
            return False
        self._doc = dict(doc)
        return True

    async def _seed(self) -> None:
        """Remember the entries just before the cursor: those the last holder handled last
        (in the segments of the last two days: older ones are complete)."""
        since = (datetime.now(UTC) - timedelta(days=KEEP_DAYS)).strftime("%Y-%m-%d")
        for segment, offset in (self._doc.get("segments") or {}).items():
            start = max(0, offset - SEED_BYTES)
            if offset <= 0 or segment_day(segment) < since:
                continue
            data = await read_ledger_from(self._store, segment, start, offset - start)
            for entry, _end in ledger_lines(data):
                if entry is not None and entry.name.startswith(WHATSAPP_RECORDS):
                    self._remember(entry.name)
        self._seeded = True

    def _remember(self, name: str) -> None:
        self._seen[name] = None
        self._seen.move_to_end(name)
        while len(self._seen) > SEEN_NAMES:
            self._seen.popitem(last=False)
