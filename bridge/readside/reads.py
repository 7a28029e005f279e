"""Audited reads of the archive: search, show, export, stats, retention, legal holds.

Each operation of :class:`Reader` does what an officer asked and then writes the ``audit``
record of it, naming the actor, the query and how many records it touched (after the read, so
that a search never returns its own audit). Callers (the CLI) only parse and print.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bridge.archive import Archive
from bridge.convert.internal import audit_record
from bridge.errors import RecordNotFound
from bridge.readside.audit import write_audit
from bridge.readside.export import ExportOptions, ExportResult, export_selection
from bridge.readside.hold import (
    Hold,
    HoldRegistry,
    StorageHoldResult,
    blobs_of,
    is_held,
    set_storage_hold,
)
from bridge.readside.index import ArchiveIndex, Hit, Progress, iter_selection, read_hits
from bridge.readside.query import RecordQuery
from bridge.readside.retention import RetentionReport, retention_report
from bridge.readside.scan import scan_select
from bridge.record import Party

#: Shows one selected record: its parsed form and its stored bytes.
Emit = Callable[[dict, bytes], None]


@dataclass(frozen=True)
class SearchResult:
    shown: int
    total: int
    #: The reader stopped reading (a closed pipe): ``shown`` says how far it got.
    reader_gone: bool = False


@dataclass(frozen=True)
class HoldSet:
    hold: Hold
    records: int
    storage: StorageHoldResult


@dataclass(frozen=True)
class HoldCleared:
    holds: list[Hold]
    released: int
    storage: StorageHoldResult | None


class Reader:
    """The read side of one archive and its index, for one actor."""

    def __init__(self, archive: Archive, index: ArchiveIndex, actor: Party) -> None:
        self.archive = archive
        self.index = index
        self.actor = actor

    async def _audit(self, action: str, **details) -> None:
        await write_audit(self.archive, audit_record(self.actor, action, **details))

    async def search(
        self,
        query: RecordQuery,
        emit: Emit,
        *,
        limit: int | None = None,
        offset: int = 0,
        scan: bool = False,
        missing: Callable[[Hit], None] = lambda hit: None,
    ) -> SearchResult:
        """Emit the selected records in time order (``scan``: without the index).

        A ``BrokenPipeError`` raised by ``emit`` ends the search early; what was shown until
        then is audited all the same. ``missing`` hears of an indexed record not in the archive.
        """
        shown, gone = 0, False
        try:
            if scan:
                found = await scan_select(self.archive, query)
                total = len(found)
                end = None if limit is None else offset + limit
                for doc, data in found[offset:end]:
                    emit(doc, data)
                    shown += 1
            else:
                await self.index.refresh(self.archive)
                total = self.index.count(query)
                selection = iter_selection(
                    self.archive, self.index, query, limit=limit, offset=offset
                )
                async for hit, data in selection:
                    if data is None:
                        missing(hit)
                        continue
                    emit(json.loads(data), data)
                    shown += 1
        except BrokenPipeError:
            total, gone = shown, True
        await self._audit(
            "search",
            query=query.describe(),
            count=shown,
            total=total,
            limit=limit,
            offset=offset or None,
        )
        return SearchResult(shown, total, gone)

    async def show(self, record_id: str) -> dict | None:
        """One record by id (None if there is none)."""
        await self.index.refresh(self.archive)
        name = self.index.name_of(record_id)
        record = None
        try:
            if name is not None:
                record = json.loads(await self.archive.store.read(name))
            else:
                record = (await self.archive.find(record_id)).to_dict()
        except RecordNotFound:
            record = None
        await self._audit("show", query={"id": record_id}, count=0 if record is None else 1)
        return record

    async def export(
        self,
        query: RecordQuery,
        fmt: str,
        out: Path,
        *,
        progress: Progress | None = None,
        options: ExportOptions | None = None,
    ) -> ExportResult:
        """Export the selection into ``out`` as ``fmt`` (``options``: time zone, business name).

        Audited once written, also when the RSMF check found problems in what was written
        (``result.rsmf_problems``): the files exist either way."""
        result = await export_selection(
            self.archive,
            self.index,
            query,
            fmt,
            out,
            actor=self.actor.to_dict(),
            progress=progress,
            options=options,
        )
        await self._audit(
            "export",
            query=query.describe(),
            count=result.records,
            export_path=str(out),
            format=fmt,
            files=result.files,
            media_missing=sorted(result.missing_media) or None,
        )
        return result

    async def stats(self) -> dict:
        await self.index.refresh(self.archive)
        stats = self.index.stats()
        await self._audit("stats", query={}, count=stats["records"])
        return stats

    async def retention(self, cutoff: str) -> RetentionReport:
        report = await retention_report(self.archive, self.index, cutoff=cutoff)
        await self._audit(
            "retention",
            query={"until": cutoff},
            count=len(report.eligible),
            past=report.past,
            held=report.held,
        )
        return report

    # -- legal holds ---------------------------------------------------------------------
    async def _scope_docs(self, scope: RecordQuery) -> list[tuple[str, dict]]:
        hits = await read_hits(self.archive, self.index.search(scope))
        return [(hit.name, json.loads(data)) for hit, data in hits if data]

    async def set_hold(
        self, case: str, *, conversation: str | None, participant: str | None
    ) -> HoldSet:
        """Hold a conversation's or a participant's records for ``case``: in the registry (every
        later record of the scope too) and, where the storage offers it, by its legal hold."""
        hold = await HoldRegistry(self.archive).add(
            case, conversation=conversation, participant=participant, by=self.actor.id
        )
        await self.index.refresh(self.archive)
        scope = RecordQuery(conversation=conversation, participant=participant)
        docs = await self._scope_docs(scope)
        storage = await set_storage_hold(self.archive, blobs_of(docs), True)
        await self._audit(
            "hold-set",
            query=scope.describe(),
            count=len(docs),
            case=case,
            hold_id=hold.id,
            storage_hold_blobs=storage.blobs,
            storage_hold_unsupported=storage.unsupported,
        )
        return HoldSet(hold, len(docs), storage)

    async def clear_hold(
        self, case: str, *, conversation: str | None = None, participant: str | None = None
    ) -> HoldCleared:
        """Clear ``case``'s active holds (on the given scope only, if one is given); the storage
        hold is lifted from records no other active hold covers."""
        registry = HoldRegistry(self.archive)
        cleared = await registry.clear(
            case, conversation=conversation, participant=participant, by=self.actor.id
        )
        remaining = await registry.active()
        await self.index.refresh(self.archive)
        docs = []
        for hold in cleared:
            scope = RecordQuery(conversation=hold.conversation, participant=hold.participant)
            docs += await self._scope_docs(scope)
        free = [(name, doc) for name, doc in docs if not is_held(doc, remaining)]
        storage = await set_storage_hold(self.archive, blobs_of(free), False) if free else None
        await self._audit(
            "hold-clear",
            query={"case": case},
            count=len(free),
            case=case,
            holds=[h.id for h in cleared],
        )
        return HoldCleared(cleared, len(free), storage)

    async def list_holds(
        self,
        *,
        include_cleared: bool = False,
        case: str | None = None,
        conversation: str | None = None,
        participant: str | None = None,
    ) -> list[Hold]:
        holds = [
            h
            for h in await HoldRegistry(self.archive).all()
            if (include_cleared or h.active)
            and (case is None or h.case == case)
            and (conversation is None or h.conversation == conversation)
            and (participant is None or h.participant == participant)
        ]
        await self._audit("hold-list", query={"all": bool(include_cleared)}, count=len(holds))
        return holds
