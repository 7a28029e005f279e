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
    return Record(
        conversation=conversation,
        platform="whatsapp",
        direction="outbound",
        kind="message",
        type=type,
        source_id=wamid,
        sent_at=now_rfc3339(),
        captured_at="",
        sender=business,
        recipients=(contact,),
        text=text or None,
        attachments=tuple(attachments),
        relates_to=employee_record_id,
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
    return Record(
        conversation=conversation,
        platform="whatsapp",
        direction="outbound",
        kind="error",
        type=str(code) if code is not None else None,
        source_id=None,
        sent_at=now_rfc3339(),
        captured_at="",
        sender=business,
        recipients=(contact,),
        text=message,
        relates_to=employee_record_id,
        raw=dict(answer) if answer else {"code": code, "message": message},
    ).sealed()
