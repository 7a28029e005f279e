"""Selecting records without the index: list, read and match (the definition search must equal).

The listing is narrowed where the archive's layout or tags allow it: a conversation is one
name prefix (``records/<conversation>/<yyyy>/<mm>/``), and a date range alone uses the blob
index tags (``date``) where the backend has them (Azure), so only those blobs are read.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

from bridge.archive import Archive
from bridge.errors import RecordNotFound
from bridge.ids import RECORDS_PREFIX, safe_component
from bridge.readside.query import RecordQuery, matches, sort_key
from bridge.record import parse_rfc3339


def _day(value: str, shift: int) -> str:
    return (parse_rfc3339(value) + timedelta(days=shift)).strftime("%Y-%m-%d")


_TAG_SAFE = re.compile(r"[A-Za-z0-9 +\-./:=_]{1,256}")


def tag_expression(query: RecordQuery) -> str | None:
    """A blob-index-tag filter that selects a superset of ``query`` (None: tags do not help).

    Dates in tags are the record's own ``sent_at`` date, so a day of margin is kept each side.
    """
    parts = []
    if query.conversation is not None:
        if not _TAG_SAFE.fullmatch(query.conversation):
            return None  # stored tags are sanitised; the name prefix is exact instead
        parts.append(f"\"conversation\" = '{query.conversation}'")
    if query.since is not None:
        parts.append(f"\"date\" >= '{_day(query.since, -1)}'")
    if query.until is not None:
        parts.append(f"\"date\" <= '{_day(query.until, 1)}'")
    if len(parts) < 1 + (query.conversation is not None):
        return None  # a conversation alone is one name prefix: listing it is as good
    return " AND ".join(parts)


def listing_prefix(query: RecordQuery) -> str:
    """A conversation's records share one name prefix (dates in names are not narrowed on:
    a name carries the source's own date, which may differ from the UTC date)."""
    if query.conversation is None:
        return RECORDS_PREFIX
    return f"{RECORDS_PREFIX}{safe_component(query.conversation)}/"


async def candidate_names(archive: Archive, query: RecordQuery) -> list[str]:
    expression = tag_expression(query)
    if expression is not None:
        names = await archive.store.find_by_tags(expression)
        if names is not None:
            return [n for n in names if n.startswith(RECORDS_PREFIX)]
    return [n async for n in archive.iter_record_names(listing_prefix(query))]


async def scan_select(archive: Archive, query: RecordQuery) -> list[tuple[dict, bytes]]:
    """Every record ``query`` selects, sorted by time, as ``(dict, stored bytes)``."""
    names = await candidate_names(archive, query)
    found = []
    sem = asyncio.Semaphore(32)

    async def read(name: str) -> bytes | None:
        async with sem:
            try:
                return await archive.store.read(name)
            except RecordNotFound:
                return None

    for start in range(0, len(names), 512):
        for data in await asyncio.gather(*(read(n) for n in names[start : start + 512])):
            try:
                doc = json.loads(data) if data is not None else None
            except ValueError:
                doc = None
            if doc is None:
                continue
            if matches(doc, query):
                found.append((doc, data))
    found.sort(key=lambda item: sort_key(item[0]))
    return found
