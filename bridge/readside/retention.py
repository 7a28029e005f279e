"""Retention: which records are past the retention period and not on hold.

The report never deletes anything. A disposal step, if an operator runs one, receives only
records that are past the period *and* on no active hold — checked again, record by record,
against the hold registry just before it is handed over.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bridge.archive import Archive
from bridge.readside.hold import Hold, HoldRegistry, is_held
from bridge.readside.index import ArchiveIndex
from bridge.readside.query import RecordQuery
from bridge.record import rfc3339

DEFAULT_RETENTION_DAYS = 7 * 365 + 2  # seven years: SEC 17a-4 / FINRA 4511 keep six

Disposer = Callable[[str], Awaitable[None]]


@dataclass
class RetentionReport:
    cutoff: str
    past: int = 0
    held: int = 0
    eligible: list[str] = field(default_factory=list)  # record blob names
    held_by_case: dict[str, int] = field(default_factory=dict)
    disposed: int = 0


def retention_cutoff(days: int, now: datetime | None = None) -> str:
    if days < 0:
        raise ValueError("the retention period must not be negative")
    return rfc3339((now or datetime.now(UTC)) - timedelta(days=days))


async def retention_report(
    archive: Archive, index: ArchiveIndex, *, cutoff: str, dispose: Disposer | None = None
) -> RetentionReport:
    """Records sent before ``cutoff``, split into held and eligible; ``dispose`` (if given) is
    called for each eligible one after a last hold check on the record itself."""
    await index.refresh(archive)
    holds = await HoldRegistry(archive).active()
    report = RetentionReport(cutoff=cutoff)
    past = index.search(RecordQuery(until=cutoff))
    report.past = len(past)
    held: set[str] = set()
    for hold in holds:
        names = {h.name for h in index.search(_scope(hold, cutoff))}
        report.held_by_case[hold.case] = report.held_by_case.get(hold.case, 0) + len(names)
        held |= names
    report.held = len(held)
    report.eligible = [h.name for h in past if h.name not in held]
    if dispose is not None:
        for name in report.eligible:
            fresh = await HoldRegistry(archive).active()
            if is_held(json.loads(await archive.store.read(name)), fresh):
                continue
            await dispose(name)
            report.disposed += 1
    return report


def _scope(hold: Hold, cutoff: str) -> RecordQuery:
    return RecordQuery(conversation=hold.conversation, participant=hold.participant, until=cutoff)
