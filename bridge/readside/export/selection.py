"""The records an export covers, pinned once and read one conversation at a time.

The index is brought in step once, before anything is read; everything after reads that state,
so records arriving during a long export do not slip into half of it. The selection is
summarised (how many, first and last time, a digest over every record id and hash in order),
so two exports of the same query can be compared by their manifests alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from bridge.archive import Archive
from bridge.readside.index import ArchiveIndex, Hit, iter_selection, read_hits
from bridge.readside.query import RecordQuery

PAGE = 5000


@dataclass
class Selection:
    query: RecordQuery
    total: int = 0
    first: str | None = None
    last: str | None = None
    digest: str = ""
    conversations: list[str] = field(default_factory=list)
    #: The records with no conversation (firm-internal events), in order.
    internal: list[Hit] = field(default_factory=list)

    def describe(self) -> dict[str, object]:
        return {
            "records": self.total,
            "first_sent_at": self.first,
            "last_sent_at": self.last,
            "conversations": len(self.conversations) + (1 if self.internal else 0),
            "sha256": self.digest,
            "sha256_of": "each selected record's 'id sha256' line, by sent_at then id",
        }

    @property
    def groups(self) -> list[str | None]:
        """Each conversation id (sorted), then None for the firm-internal records, if any."""
        return [*self.conversations, *([None] if self.internal else [])]


def survey(index: ArchiveIndex, query: RecordQuery) -> Selection:
    """What ``query`` selects in the index as it stands (no record is read)."""
    selection = Selection(query)
    digest = hashlib.sha256()
    conversations: set[str] = set()
    last: Hit | None = None
    while True:
        hits = index.search(query, limit=PAGE, after=last)
        for hit in hits:
            selection.total += 1
            selection.first = selection.first or hit.sent_at
            selection.last = hit.sent_at
            digest.update(f"{hit.id} {hit.sha256}\n".encode())
            if hit.conversation is None:
                selection.internal.append(hit)
            else:
                conversations.add(hit.conversation)
        if len(hits) < PAGE:
            break
        last = hits[-1]
    selection.digest = digest.hexdigest()
    selection.conversations = sorted(conversations)
    return selection


async def records_of(
    archive: Archive, index: ArchiveIndex, selection: Selection, conversation: str | None
) -> AsyncIterator[tuple[Hit, bytes | None]]:
    """The selected records of one conversation (None: the internal ones), in time order."""
    if conversation is not None:
        query = replace(selection.query, conversation=conversation)
        async for item in iter_selection(archive, index, query):
            yield item
        return
    for start in range(0, len(selection.internal), PAGE):
        for item in await read_hits(archive, selection.internal[start : start + PAGE]):
            yield item
