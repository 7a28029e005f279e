"""What the WhatsApp Cloud API answered to a send -> archive records (pure, no I/O).

A send that went out is a ``message`` record (platform ``whatsapp``, direction ``outbound``)
carrying the new wamid as ``source_id`` and Meta's answer as ``raw``; a refused send is an
``error`` record with Meta's code as ``type``. Both are linked to the employee's own record of
the message through ``relates_to`` (DESIGN.md §3.5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bridge.record import Attachment, Flag, Party, Record, now_rfc3339


def sent_message_record(
    *,
    conversation: str,
    business: Party,
    contact: Party,
    wamid: str,
    type: str,
    text: str | None,
    attachments: Sequence[Attachment],
    employee_record_id: str,
    flags: Sequence[Flag],
    answer: Mapping[str, Any],
) -> Record:
    """The message the Cloud API accepted (``answer``: its response, verbatim)."""
    return _outbound(
        conversation,
        business,
        contact,
        employee_record_id,
        kind="message",
        type=type,
        source_id=wamid,
        text=text or None,
        attachments=tuple(attachments),
        flags=tuple(flags),
        raw=dict(answer),
    )


def send_error_record(
    *,
    conversation: str,
    business: Party,
    contact: Party,
    code: int | None,
    message: str,
    employee_record_id: str,
    answer: Mapping[str, Any] | None,
) -> Record:
    """A send the Cloud API refused (or could not be reached for), sealed."""
    return _outbound(
        conversation,
        business,
        contact,
        employee_record_id,
        kind="error",
        type=str(code) if code is not None else None,
        source_id=None,
        text=message,
        raw=dict(answer) if answer else {"code": code, "message": message},
    ).sealed()


def _outbound(
    conversation: str, business: Party, contact: Party, employee_record_id: str, **fields: Any
) -> Record:
    """A record of the business number writing to ``contact``, linked to the employee's own."""
    return Record(
        conversation=conversation,
        platform="whatsapp",
        direction="outbound",
        sent_at=now_rfc3339(),
        captured_at="",
        sender=business,
        recipients=(contact,),
        relates_to=employee_record_id,
        **fields,
    )
