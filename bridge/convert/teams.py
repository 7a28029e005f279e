"""Teams activities of employees in a relayed thread -> archive records (pure, no I/O).

An employee's reply is a ``message`` record (platform ``teams``, direction ``outbound``,
sender = Entra object id with UPN and name); edits and deletions of it are ``edit`` and
``delete`` records that point at the Teams message they change (``relates_to``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from bridge.record import Attachment, Party, Record, now_rfc3339, rfc3339

_AT = re.compile(r"<at[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|div)>|<br\s*/?>", re.IGNORECASE)


def plain_text(activity: dict[str, Any]) -> str:
    """The text an employee typed: mentions of the bot removed, HTML reduced to text."""
    text = activity.get("text") or ""
    bot_id = (activity.get("recipient") or {}).get("id")
    bot_mentions = {
        e.get("text")
        for e in activity.get("entities") or ()
        if e.get("type") == "mention" and (e.get("mentioned") or {}).get("id") == bot_id
    }
    for mention in bot_mentions:
        if mention:
            text = text.replace(mention, "")
    text = _AT.sub(lambda m: m.group(1), text)
    if "<" in text and ">" in text:
        text = _BLOCK_END.sub("\n", text)
        text = _TAG.sub("", text)
    text = html.unescape(text).replace("\xa0", " ")
    lines = [line.strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def employee_party(activity: dict[str, Any], *, upn: str | None = None) -> Party:
    sender = activity.get("from") or {}
    return Party(
        id=sender.get("aadObjectId") or sender.get("id") or "unknown",
        name=sender.get("name"),
        platform="teams",
        upn=upn,
    )


def sent_at_of(activity: dict[str, Any]) -> str:
    stamp = activity.get("timestamp")
    if isinstance(stamp, str) and stamp:
        try:
            from bridge.record import parse_rfc3339

            return rfc3339(parse_rfc3339(stamp))
        except ValueError:
            pass
    return now_rfc3339()


def employee_message_record(
    activity: dict[str, Any],
    *,
    conversation: str,
    contact: Party,
    upn: str | None,
    attachments: Sequence[Attachment] = (),
    text: str | None = None,
) -> Record:
    """The employee's message in a contact's thread, as sent towards that contact."""
    body = plain_text(activity) if text is None else text
    kind_type = "text" if not attachments else _media_type(attachments)
    return Record(
        conversation=conversation,
        platform="teams",
        direction="outbound",
        kind="message",
        type=kind_type,
        source_id=activity.get("id"),
        sent_at=sent_at_of(activity),
        captured_at="",
        sender=employee_party(activity, upn=upn),
        recipients=(contact,),
        text=body or None,
        attachments=tuple(attachments),
        raw=activity,
    )


def employee_change_record(
    activity: dict[str, Any],
    *,
    conversation: str,
    contact: Party,
    upn: str | None,
) -> Record:
    """An edit (``messageUpdate``) or deletion (``messageDelete``) of an employee's message."""
    deleted = activity.get("type") == "messageDelete"
    return Record(
        conversation=conversation,
        platform="teams",
        direction="outbound",
        kind="delete" if deleted else "edit",
        type=activity.get("type"),
        source_id=activity.get("id"),
        sent_at=sent_at_of(activity),
        captured_at="",
        sender=employee_party(activity, upn=upn),
        recipients=(contact,),
        text=None if deleted else (plain_text(activity) or None),
        relates_to=activity.get("id"),
        raw=activity,
    )


def _media_type(attachments: Sequence[Attachment]) -> str:
    mime = attachments[0].mime_type or ""
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    if mime.startswith("audio/"):
        return "audio"
    return "document"


def is_file_attachment(attachment: dict[str, Any]) -> bool:
    """True for an attachment the employee added (not the HTML copy of the message or a card)."""
    content_type = attachment.get("contentType") or ""
    if content_type == "application/vnd.microsoft.teams.file.download.info":
        return True
    if content_type.startswith(("text/html", "application/vnd.microsoft.card")):
        return False
    return bool(attachment.get("contentUrl"))


def relay_post_record(
    relayed: Record,
    *,
    activity: dict[str, Any],
    activity_id: str,
    thread_id: str,
    channel_id: str,
    bot_id: str | None,
) -> Record:
    """The bot's own Teams post showing ``relayed`` (an inbound WhatsApp record) in its thread.

    Linked to it through ``relates_to``; its ``source_id`` is the Teams activity id, never the
    wamid; ``raw`` keeps the thread and the activity exactly as posted.
    """
    return Record(
        conversation=relayed.conversation,
        platform="teams",
        direction="inbound",
        kind="message",
        type="relay",
        source_id=activity_id,
        sent_at=now_rfc3339(),
        captured_at="",
        sender=Party(bot_id or "bot", "wabridge", "teams"),
        recipients=(Party(channel_id, None, "teams"),),
        text=activity.get("text"),
        relates_to=relayed.id,
        raw={"thread_id": thread_id, "activity": activity},
    )
