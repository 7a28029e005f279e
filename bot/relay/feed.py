"""The relay's view of the ledger: the archived records Teams has not been shown yet.

Every record the archive accepts is listed in the ledger (``bridge/ledger.py``), durably, before
the webhook answers Meta. So the relay keeps no queue of its own on the acknowledgement path: it
follows the ledger, as the search index does. One instance at a time holds the feed's lease in
``state/relay/feed.json`` (:class:`bot.relay.state.FeedCursor`), beside the cursor: for every
ledger segment, how many of its bytes the relay has handled. Past days' segments, once handled
to their end, leave the cursor for a date, ``complete_before``, so that the cursor does not grow
without end. An entry is handled once its record is shown in Teams or parked in its contact's
queue to be retried; only then may the cursor pass it. An instance that dies holding the lease
holds it no longer than ``lease_seconds``.

The feed reads ahead of the cursor (its own read position), so that new entries can be handed
out while earlier ones are still being posted; :meth:`LedgerFeed.commit` moves the cursor.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.relay.state import FEED_DOC, FeedCursor
from bridge.ids import LEDGER_PREFIX, RECORDS_PREFIX
from bridge.ledger import ledger_lines, read_ledger_from, segment_sizes
from bridge.state import DocStore, LeaseKeeper
from bridge.store.base import ArchiveStore

#: Records of WhatsApp conversations: the only ones Teams may show.
WHATSAPP_RECORDS = RECORDS_PREFIX + "wa:"
#: Ledger bytes read from one segment at a time (some 200 entries).
READ_BYTES = 32 * 1024
#: Ledger bytes before the cursor read again when an instance takes the feed over, to know the
#: records it handled last (see ``SEEN_NAMES``).
SEED_BYTES = 128 * 1024
#: Record names remembered as handed out. A redelivered event whose first entry was lost in a
#: crash is listed again in the ledger; one listed twice is still shown once.
SEEN_NAMES = 200_000
#: Days after which a day's segments, once all handled, leave the cursor. Writers start new
#: segments every UTC day, so a past day's segments no longer grow.
KEEP_DAYS = 2
#: How long a listing of the ledger's segments is used before the ledger is listed again. In
#: between, the segments known to be growing are read from where the feed stands (a segment new
#: since, from another writer, is found at the next listing).
LIST_SECONDS = 1.0


def segment_day(name: str) -> str:
    """The UTC day (YYYY-MM-DD) of a ledger segment, from its name."""
    return name[len(LEDGER_PREFIX) :][:10]


def unfollowed(sizes: dict[str, int], cursor: FeedCursor) -> dict[str, int]:
    """The segments with bytes the relay has not handled, each with the offset it handled up to
    (``sizes``: every segment's size)."""
    return {
        name: cursor.segments.get(name, 0)
        for name, size in sizes.items()
        if segment_day(name) >= cursor.complete_before and size > cursor.segments.get(name, 0)
    }


def prune(cursor: FeedCursor, sizes: dict[str, int], today: str) -> FeedCursor:
    """The cursor without the segments of whole past days (older than ``KEEP_DAYS``) that are
    handled to their end, day after day from the oldest, ``complete_before`` moved past them."""
    cutoff = (datetime.strptime(today, "%Y-%m-%d") - timedelta(days=KEEP_DAYS)).strftime("%Y-%m-%d")
    segments = dict(cursor.segments)
    complete_before = cursor.complete_before
    by_day: dict[str, list[str]] = {}
    for name in sizes:
        day = segment_day(name)
        if cursor.complete_before <= day < cutoff:
            by_day.setdefault(day, []).append(name)
    for day in sorted(by_day):
        names = by_day[day]
        if any(segments.get(n, 0) < sizes[n] for n in names):
            break
        for name in names:
            segments.pop(name, None)
        next_day = datetime.strptime(day, "%Y-%m-%d") + timedelta(days=1)
        complete_before = next_day.strftime("%Y-%m-%d")
    return replace(cursor, segments=segments, complete_before=complete_before)


@dataclass(frozen=True)
class FeedEntry:
    """A ledger entry of a WhatsApp record: its name, and where in the ledger its line ends."""

    name: str
    record_id: str
    segment: str
    end: int


@dataclass
class FeedBatch:
    """Ledger entries gained since the read position: the WhatsApp ones not handed out before,
    in ledger order; ``ends``: how far each segment was read."""

    entries: list[FeedEntry] = field(default_factory=list)
    ends: dict[str, int] = field(default_factory=dict)
    more: bool = False
    #: Every segment's size when the batch was read (to prune the cursor with).
    sizes: dict[str, int] = field(default_factory=dict)


class LedgerFeed:
    """Reads the ledger for the relay under a lease, and moves the cursor."""

    def __init__(
        self,
        store: ArchiveStore,
        owner: str,
        *,
        lease_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.owner = owner
        self._lease_seconds = lease_seconds
        self._clock = clock
        self._docs = DocStore(store, FeedCursor)
        self._keeper = LeaseKeeper(self._docs, owner, lease_seconds, create=FeedCursor, clock=clock)
        #: The cursor as this instance last wrote or read it, while it holds the lease.
        self._cursor: FeedCursor | None = None
        #: How far each segment has been read (at or beyond the cursor).
        self._read: dict[str, int] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seeded = False
        #: Every segment's size at the last listing (or as far as read since), and when.
        self.sizes: dict[str, int] = {}
        self._listed_at: float | None = None

    @property
    def held(self) -> bool:
        """Whether this instance holds the feed, as far as it knows."""
        return self._cursor is not None and self._keeper.holds(self._cursor)

    def reset(self) -> None:
        """Forget the read position and what was handed out (the lease was lost)."""
        self._cursor = None
        self._read = {}
        self._seeded = False
        self._listed_at = None

    async def read(self) -> FeedBatch | None:
        """What the ledger gained since the read position, or None when nothing did or another
        instance holds the feed. Takes (or renews) the lease when there is something to read."""
        sizes = await self._sizes()
        stored = await self._docs.get(FEED_DOC) or FeedCursor()
        if self.held and stored.lease.owner != self.owner:
            self.reset()  # taken over: this instance stalled past its lease
            sizes = await self._sizes()
        cursor = self._cursor if self.held else stored
        position = replace(cursor, segments={**cursor.segments, **self._read})
        if not unfollowed(sizes, position):
            return None
        if not self._fresh_enough() and not await self._take():
            return None
        if not self._seeded:
            await self._seed()
        position = replace(self._cursor, segments={**self._cursor.segments, **self._read})
        batch, fresh = FeedBatch(sizes=sizes), set()
        for segment, start in unfollowed(sizes, position).items():
            data = await read_ledger_from(self._store, segment, start, READ_BYTES)
            end = 0
            for entry, line_end in ledger_lines(data):
                end = line_end
                if entry is None or not entry.name.startswith(WHATSAPP_RECORDS):
                    continue
                if entry.name in self._seen or entry.name in fresh:
                    continue
                fresh.add(entry.name)
                batch.entries.append(FeedEntry(entry.name, entry.record_id, segment, start + end))
            if end:
                batch.ends[segment] = start + end
                self._read[segment] = start + end
                self.sizes[segment] = max(self.sizes.get(segment, 0), start + end)
            batch.more = batch.more or len(data) >= READ_BYTES
        for entry in batch.entries:
            self._remember(entry.name)
        return batch if batch.ends else None

    async def _sizes(self) -> dict[str, int]:
        """The segments to look at, with their sizes: a fresh listing now and then; in between
        (while this instance holds the feed), the known segments that may still grow, each as
        "larger than read so far" (read from there)."""
        now = self._clock()
        if self.held and self._listed_at is not None and now - self._listed_at < LIST_SECONDS:
            yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
            growing = {s for s in self.sizes if segment_day(s) >= yesterday}
            return {s: (2**62 if s in growing else size) for s, size in self.sizes.items()}
        self.sizes = await segment_sizes(self._store)
        self._listed_at = now
        return dict(self.sizes)

    async def commit(self, ends: dict[str, int]) -> None:
        """Move the cursor to ``ends`` (never back) and renew the lease; raises
        :class:`bridge.state.LeaseLost` if another instance took the feed."""
        sizes = self.sizes
        today = datetime.now(UTC).strftime("%Y-%m-%d")

        def advance(cursor: FeedCursor) -> FeedCursor:
            segments = dict(cursor.segments)
            for segment, end in ends.items():
                segments[segment] = max(segments.get(segment, 0), end)
            return prune(replace(cursor, segments=segments), sizes, today)

        try:
            self._cursor = await self._keeper.renew(FEED_DOC, advance)
        except Exception:
            self.reset()
            raise

    async def keep(self) -> None:
        """Renew a lease this instance holds when less than half of it is left (while posts are
        under way and nothing new moves the cursor, which renews it too)."""
        if self.held and not self._fresh_enough():
            await self.commit({})

    async def release(self) -> None:
        """Give the lease up (at shutdown), so that another instance takes over at once."""
        if self._cursor is not None:
            await self._keeper.release(FEED_DOC)
        self.reset()

    def _fresh_enough(self) -> bool:
        """Holding a lease with more than half of it left needs no renewal before reading."""
        return self.held and self._cursor.lease.until - self._clock() > self._lease_seconds / 2

    async def _take(self) -> bool:
        was_held = self._cursor is not None
        cursor = await self._keeper.take(FEED_DOC)
        if cursor is None:
            self.reset()  # another instance feeds; what it handles we do not see
            return False
        if not was_held:
            self._read = {}
        self._cursor = cursor
        return True

    async def _seed(self) -> None:
        """Remember the entries just before the cursor: those the last holder handled last
        (in the segments of the last two days: older ones are complete)."""
        since = (datetime.now(UTC) - timedelta(days=KEEP_DAYS)).strftime("%Y-%m-%d")
        for segment, offset in (self._cursor.segments if self._cursor else {}).items():
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
