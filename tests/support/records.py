"""Made-up records for archive tests (no real numbers, no secrets)."""

from __future__ import annotations

from bridge.archive import Archive, PutResult
from bridge.ids import make_conversation_id
from bridge.record import Party, Record, from_unix

BUSINESS_PNID = "100000000000001"


def inbound_text(n: int, *, contact: str = "15550000001", text: str | None = None) -> Record:
    """The n-th inbound text message of a made-up contact, as the WhatsApp converter makes it."""
    wamid = f"wamid.HBgLMTU1NTAwMDAwMDEVAgASGBQz{n:08d}/+=="
    return Record(
        conversation=make_conversation_id(BUSINESS_PNID, contact),
        platform="whatsapp",
        direction="inbound",
        kind="message",
        type="text",
        source_id=wamid,
        sent_at=from_unix(1_764_300_000 + n),
        captured_at="",
        sender=Party(id=contact, name="Dana Example", platform="whatsapp"),
        recipients=(Party(id=BUSINESS_PNID, name="Contoso", platform="whatsapp"),),
        text=text if text is not None else f"message number {n}",
        raw={
            "from": contact,
            "id": wamid,
            "timestamp": str(1_764_300_000 + n),
            "type": "text",
            "text": {"body": text if text is not None else f"message number {n}"},
        },
    )


async def write_inbound(archive: Archive, count: int, **kwargs) -> list[PutResult]:
    return await archive.put_many([(inbound_text(i, **kwargs), None) for i in range(count)])
