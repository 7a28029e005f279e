"""Firm-internal records (direction ``internal``): system, policy, audit and error records.

Every record the firm's own side makes about itself is built here, so that their shape (who
is the sender, what ``raw`` holds, which ids link them) is decided in one place: the inbox
binding, refusals of other tenants, governance decisions, audited reads and registry changes,
relay failures, and media fetched for a webhook that named no hash. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bridge.record import Attachment, Flag, Party, Record, now_rfc3339


def internal_record(
    *,
    kind: str,
    type: str,
    text: str,
    raw: Any,
    sender: Party | None = None,
    platform: str = "teams",
    conversation: str | None = None,
    source_id: str | None = None,
    relates_to: str | None = None,
    recipients: Sequence[Party] = (),
    attachments: Sequence[Attachment] = (),
    flags: Sequence[Flag] = (),
    at: str | None = None,
    captured_at: str = "",
) -> Record:
    """An unsealed internal record of ``kind``/``type`` (sealed when archived)."""
    return Record(
        conversation=conversation,
        platform=platform,
        direction="internal",
        kind=kind,
        type=type,
        source_id=source_id,
        sent_at=at or now_rfc3339(),
        captured_at=captured_at,
        sender=sender,
        recipients=tuple(recipients),
        text=text,
        attachments=tuple(attachments),
        relates_to=relates_to,
        flags=tuple(flags),
        raw=raw,
    )


# -- Teams ---------------------------------------------------------------------------------


def inbox_bound_record(activity: Mapping[str, Any], admin: Party, channel_id: str) -> Record:
    """``setup`` bound the channel ``channel_id`` as the WhatsApp inbox (``raw``: the activity)."""
    return internal_record(
        kind="system",
        type="inbox_bound",
        source_id=activity.get("id"),
        sender=admin,
        text=f"WhatsApp inbox bound to channel {channel_id}",
        raw=dict(activity),
    )


def foreign_tenant_record(activity: Mapping[str, Any], *, ours: str, theirs: str | None) -> Record:
    """A Teams activity of another organisation's tenant, refused (``raw``: the activity)."""
    sender = activity.get("from") if isinstance(activity.get("from"), dict) else {}
    who = str(sender.get("aadObjectId") or sender.get("id") or "unknown")
    return internal_record(
        kind="policy",
        type="foreign_tenant",
        sender=Party(id=who, name=sender.get("name"), platform="teams"),
        text=f"Refused a Teams activity from tenant {theirs or 'unknown'}: this bot serves "
        f"tenant {ours} only",
        raw=dict(activity),
    )


def relay_failed_record(record_id: str, conversation: str | None, error: BaseException) -> Record:
    """A record that could not be shown in Teams after every retry, set aside."""
    return internal_record(
        kind="error",
        type="relay_failed",
        conversation=conversation,
        text=f"could not show this record in Teams: {error}",
        relates_to=record_id,
        raw={"error": repr(error)},
    )


# -- governance ----------------------------------------------------------------------------


def policy_record(
    decision: str,
    sender: Party,
    *,
    text: str,
    raw: Mapping[str, Any],
    conversation: str | None = None,
    source_id: str | None = None,
    relates_to: str | None = None,
    flags: Sequence[Flag] = (),
) -> Record:
    """A governance decision about an employee (``decision``: refusal, block, …)."""
    return internal_record(
        kind="policy",
        type=decision,
        sender=sender,
        text=text,
        raw=dict(raw),
        conversation=conversation,
        source_id=source_id,
        relates_to=relates_to,
        flags=flags,
    )


def audit_record(
    actor: Party,
    action: str,
    *,
    query: dict[str, Any] | None = None,
    count: int | None = None,
    summary: str | None = None,
    **details: Any,
) -> Record:
    """An unsealed audit record of a read or a hold change (``action``: search, export, …).

    ``raw`` holds the action, the actor, the query, how many records, and ``details``."""
    raw: dict[str, Any] = {"action": action, "actor": actor.to_dict()}
    if query is not None:
        raw["query"] = query
    if count is not None:
        raw["count"] = count
    raw.update({k: v for k, v in details.items() if v is not None})
    if summary is None:
        what = ", ".join(f"{k}={v}" for k, v in sorted((query or {}).items())) or "everything"
        summary = f"{actor.name or actor.id} ran {action} over {what}"
        if count is not None:
            summary += f": {count} record(s)"
        if details.get("export_path"):
            summary += f", exported to {details['export_path']}"
    now = now_rfc3339()
    return internal_record(
        kind="audit", type=action, sender=actor, text=summary, raw=raw, at=now, captured_at=now
    )


_REGISTRY_TEXT = {
    "user_added": "Authorized {who} to use the WhatsApp relay",
    "user_updated": "Updated the registry entry of {who}",
    "user_removed": "Withdrew the WhatsApp relay authorization of {who}",
}


def registry_audit_record(
    action: str, user: Mapping[str, Any], user_party: Party, by: str
) -> Record:
    """The sealed audit record of one change of the authorized-user registry, made by ``by``."""
    who = f"{user['upn']} ({user['object_id']})"
    return internal_record(
        kind="audit",
        type=action,
        sender=Party(id=by, name=by, platform="teams"),
        recipients=(user_party,),
        text=_REGISTRY_TEXT[action].format(who=who) + f" (by {by})",
        raw={"registry": "authorized_users", "action": action, "user": dict(user), "by": by},
    ).sealed()


# -- WhatsApp media ------------------------------------------------------------------------


def media_fetched_record(
    *,
    media_id: str,
    attachment: Attachment,
    record_id: str,
    conversation: str | None,
) -> Record:
    """Which bytes a media id turned out to be, for a webhook that announced no hash."""
    return internal_record(
        platform="whatsapp",
        kind="system",
        type="media",
        conversation=conversation,
        text=f"media {media_id} fetched (the webhook gave no hash)",
        attachments=(attachment,),
        relates_to=record_id,
        raw=None,
    )
