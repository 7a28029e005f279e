"""Ingest: a verified WhatsApp delivery's records made durable, then handed on.

The webhook transport verifies and parses a delivery and hands its records (with their dedupe
keys) to :meth:`Ingest.accept` (the :class:`bot.ports.InboundIngest` port). Here the lexicon
flags inbound text, every record is archived (and listed in the ledger), and the media is
stored or durably pending, all within ``budget`` seconds; only then are the listeners told (the
relay worker first: the in-process hand-off), and the webhook answers 200. A listener's failure
never loses the delivery's 200: the records are durable and the relay also follows the ledger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bot.capture.media import MediaCapture
from bot.governance.inbound import flag_items
from bot.ports import InboundListener, OutboundGate
from bridge.archive import Archive
from bridge.record import Record

log = logging.getLogger("wabridge.webhook")

#: Everything before the 200 (records, media pending list) must fit in this, so that Meta gets
#: its answer (5xx on storage trouble) well within 15 s.
ARCHIVE_BUDGET = 12.0


class Ingest:
    """Archives deliveries' records before they are acknowledged, then tells the listeners."""

    def __init__(
        self,
        archive: Archive,
        media: MediaCapture,
        gate: OutboundGate | None = None,
        *,
        listeners: Sequence[InboundListener] = (),
        budget: float = ARCHIVE_BUDGET,
    ) -> None:
        self._archive = archive
        self._media = media
        self._gate = gate
        self.listeners: list[InboundListener] = list(listeners)
        self._budget = budget

    async def accept(self, items: Sequence[tuple[Record, str | None]]) -> list[Record]:
        """Archive ``items``; returns the stored records (on a redelivery, the earlier copies).

        Raises an ``ArchiveError`` or ``TimeoutError`` when the archive could not take them
        within the budget (some may be durable: the source's retry maps onto them)."""
        flagged = flag_items(items, self._gate)
        async with asyncio.timeout(self._budget):
            results = await self._archive.put_many(flagged)
            stored = [r.record for r in results]
            await self._media.capture(stored)
        for listener in self.listeners:
            try:
                await listener(stored)
            except Exception:  # noqa: BLE001 - the records are durable; the 200 must not be lost
                log.exception("inbound listener %r failed", listener)
        return stored
