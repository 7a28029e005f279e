"""What the bot posts into Teams: activities as plain dicts (text and Adaptive Cards).

Pure functions of records and facts, no I/O and no Bot Framework SDK: the relay core renders
what it posts with them (and archives exactly that), the Teams transport only sends it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from bridge.record import Record


class TemplateLike(Protocol):
    """An approved template as the cards show it (see ``bot.relay.templates.Template``)."""

    description: str

    def usage(self) -> str: ...


ADAPTIVE = "application/vnd.microsoft.card.adaptive"

STATUS_LABELS = {
    "accepted": "⏳ Sending to WhatsApp…",
    "sent": "✓ Sent to WhatsApp",
    "delivered": "✓✓ Delivered",
    "read": "✓✓ Read",
    "failed": "⚠ Not delivered",
}
STATUS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


def message(text: str, attachments: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    return {
        "type": "message",
        "text": text,
        "textFormat": "markdown",
        "attachments": list(attachments),
    }


def adaptive(
    body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "version": "1.4",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return {"contentType": ADAPTIVE, "content": content}


def contact_label(record: Record) -> str:
    wa_id = record.sender.id if record.sender else "?"
    number = wa_id if wa_id.startswith("+") else f"+{wa_id}"
    name = record.sender.name if record.sender and record.sender.name else None
    return f"{name} ({number})" if name else number


def inbound_post(
    record: Record, media: list[tuple[Any, str]], map_link: str | None
) -> dict[str, Any]:
    """An inbound WhatsApp event as a Teams post: who, what, media inline or as file cards.

    ``media`` pairs each attachment with its signed download link.
    """
    who = contact_label(record)
    body = record.text or ""
    if record.kind == "reaction":
        line = f"**{who}** reacted {body}" if body else f"**{who}** removed a reaction"
    elif record.kind == "edit":
        line = f"**{who}** edited a message: {body}"
    elif record.kind == "delete":
        line = f"**{who}** deleted a message"
    elif record.kind == "system":
        line = f"**{who}** (WhatsApp notice): {body}"
    elif record.type == "unsupported":
        line = f"**{who}** sent a message WhatsApp does not let us show (kept in the archive)"
    else:
        line = f"**{who}**: {body}" if body else f"**{who}** sent {record.type or 'a message'}"
    if map_link:
        line += f"\n\n[Open on a map]({map_link})"
    if record.flags:
        line += "\n\n⚑ **Flagged by policy**: " + "; ".join(
            f"{f.rule} ({f.reason})" for f in record.flags
        )
    attachments = [media_card(att, link) for att, link in media]
    return message(line, attachments)


def media_card(attachment: Any, link: str) -> dict[str, Any]:
    mime = attachment.mime_type or "application/octet-stream"
    name = attachment.filename or mime
    if mime.startswith("image/"):
        body = [
            {"type": "Image", "url": link, "altText": attachment.caption or name, "size": "Large"}
        ]
        if attachment.caption:
            body.append({"type": "TextBlock", "text": attachment.caption, "wrap": True})
        return adaptive(body)
    size = f", {attachment.size} bytes" if attachment.size else ""
    body = [
        {"type": "TextBlock", "text": f"📎 {name}", "weight": "Bolder", "wrap": True},
        {"type": "TextBlock", "text": f"{mime}{size}", "isSubtle": True, "spacing": "None"},
    ]
    if attachment.caption:
        body.append({"type": "TextBlock", "text": attachment.caption, "wrap": True})
    return adaptive(body, [{"type": "Action.OpenUrl", "title": "Download", "url": link}])


def status_card(status: str, *, to: str, detail: str | None = None) -> dict[str, Any]:
    """The bot's one reply per outbound message; its status line is updated in place."""
    line = STATUS_LABELS.get(status, status)
    body = [
        {
            "type": "TextBlock",
            "text": f"{line} to {to}",
            "wrap": True,
            "isSubtle": True,
            "size": "Small",
        }
    ]
    if detail:
        body.append({"type": "TextBlock", "text": detail, "wrap": True, "size": "Small"})
    return message("", [adaptive(body)])


def window_closed(templates: Mapping[str, TemplateLike]) -> dict[str, Any]:
    """Error 131047: the 24-hour customer-service window is closed; offer the templates."""
    text = (
        "⚠ Not delivered: this contact has not written in the last 24 hours, and WhatsApp "
        "only lets a business start a conversation again with an approved template."
    )
    if templates:
        lines = "\n".join(
            f"- `{t.usage()}`" + (f" — {t.description}" if t.description else "")
            for t in templates.values()
        )
        text += f"\n\nReply in this thread with one of these:\n\n{lines}"
    else:
        text += "\n\nNo approved templates are configured (WABRIDGE_TEMPLATES_FILE)."
    return message(text)


def send_failed(meta_message: str, code: int | None) -> dict[str, Any]:
    return message(f"⚠ Not sent to WhatsApp: {meta_message}" + (f" (error {code})" if code else ""))


def help_text() -> dict[str, Any]:
    return message(
        "**wabridge** relays WhatsApp conversations into this team's inbox channel.\n\n"
        "- In a channel: `setup` makes that channel the WhatsApp inbox.\n"
        "- In a contact's thread: reply to send to the contact; `template NAME param…` sends an "
        "approved template.\n"
        "- Here: `new +E164 TEMPLATE [params]` starts a conversation with a new contact; "
        "`help` shows this."
    )
