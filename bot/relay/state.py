"""The relay's state documents under ``state/``: their names, and each layout as a typed class.

Names and layouts are those earlier versions wrote (existing deployments hold them), so that
either version reads what the other wrote:

- ``state/teams/inbox.json`` (:class:`InboxBinding`): the bound inbox channel.
- ``state/relay/threads/<conversation>.json`` (:class:`ContactThread`): the contact's thread;
  before it exists, possibly the ``claim`` (with ``claimed_until``) of the worker starting it.
- ``state/relay/teams-threads/<thread id>.json`` (:class:`ThreadIndex`): thread -> contact.
- ``state/relay/pending/<conversation>.json`` (:class:`ParkedQueue`): the records still to show
  in Teams for one contact, in order, and the ``lease`` of the worker retrying them.
- ``state/relay/sent/<wamid>.json`` (:class:`SentCard`): where an outbound message's status
  card is, and the last status it shows.
- ``state/relay/feed.json`` (:class:`FeedCursor`): how far the relay followed the ledger, and
  the ``lease`` of the one instance following it.
- ``state/relay/media-key.json`` (:class:`MediaKey`): the key that signs media links.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.ports import TeamsEndpoint
from bridge.ids import state_blob_name
from bridge.state import Lease

INBOX = state_blob_name("teams", "inbox")
MEDIA_KEY = state_blob_name("relay", "media-key")
FEED_DOC = state_blob_name("relay", "feed")
PENDING_PREFIX = "state/relay/pending/"


def thread_doc(conversation: str) -> str:
    return state_blob_name("relay", "threads", conversation)


def teams_thread_doc(thread_id: str) -> str:
    return state_blob_name("relay", "teams-threads", thread_id)


def pending_doc(conversation: str) -> str:
    return state_blob_name("relay", "pending", conversation)


def sent_doc(wamid: str) -> str:
    return state_blob_name("relay", "sent", wamid)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class InboxBinding:
    """The channel ``setup`` bound as the WhatsApp inbox, and who bound it when."""

    channel_id: str
    service_url: str
    team_id: str | None = None
    tenant_id: str | None = None
    bot_id: str | None = None
    bot_name: str | None = None
    bound_by: str | None = None
    bound_at: str | None = None

    @property
    def endpoint(self) -> TeamsEndpoint:
        return TeamsEndpoint(self.service_url, self.tenant_id, self.bot_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "team_id": self.team_id,
            "tenant_id": self.tenant_id,
            "service_url": self.service_url,
            "bot_id": self.bot_id,
            "bot_name": self.bot_name,
            "bound_by": self.bound_by,
            "bound_at": self.bound_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InboxBinding:
        return cls(
            channel_id=str(data["channel_id"]),
            service_url=str(data["service_url"]),
            team_id=_text(data.get("team_id")),
            tenant_id=_text(data.get("tenant_id")),
            bot_id=_text(data.get("bot_id")),
            bot_name=_text(data.get("bot_name")),
            bound_by=_text(data.get("bound_by")),
            bound_at=_text(data.get("bound_at")),
        )


@dataclass(frozen=True)
class ContactThread:
    """A contact's thread in the inbox (``thread_id``: ``<channel id>;messageid=<root id>``).

    Without ``thread_id`` there is no thread yet; ``claim`` then says who is starting it."""

    conversation: str
    wa_id: str
    thread_id: str | None = None
    root_activity_id: str | None = None
    channel_id: str | None = None
    service_url: str | None = None
    tenant_id: str | None = None
    bot_id: str | None = None
    created_at: str | None = None
    created_by: str | None = None
    claim: Lease = field(default_factory=Lease)

    @property
    def started(self) -> bool:
        return bool(self.thread_id)

    @property
    def endpoint(self) -> TeamsEndpoint:
        return TeamsEndpoint(self.service_url or "", self.tenant_id, self.bot_id)

    @property
    def label(self) -> str:
        """The contact as the thread shows them: ``+<number>``."""
        return self.wa_id if self.wa_id.startswith("+") else f"+{self.wa_id}"

    def to_dict(self) -> dict[str, Any]:
        if not self.started:
            return {
                "conversation": self.conversation,
                "wa_id": self.wa_id,
                "claim": self.claim.owner,
                "claimed_until": self.claim.until if self.claim.owner else 0,
            }
        return {
            "conversation": self.conversation,
            "wa_id": self.wa_id,
            "thread_id": self.thread_id,
            "root_activity_id": self.root_activity_id,
            "channel_id": self.channel_id,
            "service_url": self.service_url,
            "tenant_id": self.tenant_id,
            "bot_id": self.bot_id,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContactThread:
        owner = data.get("claim")
        return cls(
            conversation=str(data.get("conversation") or ""),
            wa_id=str(data.get("wa_id") or ""),
            thread_id=_text(data.get("thread_id")),
            root_activity_id=_text(data.get("root_activity_id")),
            channel_id=_text(data.get("channel_id")),
            service_url=_text(data.get("service_url")),
            tenant_id=_text(data.get("tenant_id")),
            bot_id=_text(data.get("bot_id")),
            created_at=_text(data.get("created_at")),
            created_by=_text(data.get("created_by")),
            claim=Lease(str(owner), float(data.get("claimed_until") or 0)) if owner else Lease(),
        )


@dataclass(frozen=True)
class ThreadIndex:
    """Which contact a Teams thread belongs to."""

    conversation: str
    thread_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"conversation": self.conversation, "thread_id": self.thread_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThreadIndex:
        return cls(str(data["conversation"]), str(data.get("thread_id") or ""))


@dataclass(frozen=True)
class ParkedItem:
    """A record waiting to be shown: its id, where it is stored, how often it was tried."""

    id: str
    name: str | None = None
    attempts: int = 0
    #: The record itself, as versions before 2026-12 parked it (newer ones name it only).
    record: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "attempts": self.attempts}
        if self.name is not None:
            out["name"] = self.name
        if self.record is not None:
            out["record"] = self.record
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParkedItem:
        return cls(
            str(data["id"]),
            _text(data.get("name")),
            int(data.get("attempts") or 0),
            data.get("record"),
        )


@dataclass(frozen=True)
class ParkedQueue:
    """One contact's records that could not be shown yet, oldest first."""

    conversation: str
    items: tuple[ParkedItem, ...] = ()
    lease: Lease = field(default_factory=Lease)

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation": self.conversation,
            "items": [i.to_dict() for i in self.items],
            "lease": self.lease.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParkedQueue:
        return cls(
            str(data.get("conversation") or ""),
            tuple(ParkedItem.from_dict(i) for i in data.get("items") or ()),
            Lease.from_dict(data.get("lease")),
        )


@dataclass(frozen=True)
class SentCard:
    """The status card of one outbound message in its thread."""

    wamid: str
    thread_id: str
    activity_id: str
    to: str
    conversation: str
    record_id: str
    status: str = "sent"
    service_url: str | None = None
    tenant_id: str | None = None
    bot_id: str | None = None

    @property
    def endpoint(self) -> TeamsEndpoint:
        return TeamsEndpoint(self.service_url or "", self.tenant_id, self.bot_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "wamid": self.wamid,
            "thread_id": self.thread_id,
            "activity_id": self.activity_id,
            "to": self.to,
            "conversation": self.conversation,
            "record_id": self.record_id,
            "status": self.status,
            "service_url": self.service_url,
            "tenant_id": self.tenant_id,
            "bot_id": self.bot_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SentCard:
        return cls(
            wamid=str(data.get("wamid") or ""),
            thread_id=str(data["thread_id"]),
            activity_id=str(data["activity_id"]),
            to=str(data.get("to") or ""),
            conversation=str(data.get("conversation") or ""),
            record_id=str(data.get("record_id") or ""),
            status=str(data.get("status") or "sent"),
            service_url=_text(data.get("service_url")),
            tenant_id=_text(data.get("tenant_id")),
            bot_id=_text(data.get("bot_id")),
        )


@dataclass(frozen=True)
class FeedCursor:
    """For every ledger segment, how many of its bytes the relay has handled; segments of days
    before ``complete_before`` are handled to their end and left out."""

    segments: dict[str, int] = field(default_factory=dict)
    complete_before: str = ""
    lease: Lease = field(default_factory=Lease)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"segments": dict(self.segments), "lease": self.lease.to_dict()}
        if self.complete_before:
            out["complete_before"] = self.complete_before
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeedCursor:
        return cls(
            {str(k): int(v) for k, v in (data.get("segments") or {}).items()},
            str(data.get("complete_before") or ""),
            Lease.from_dict(data.get("lease")),
        )


@dataclass(frozen=True)
class MediaKey:
    """The random key (base64) that signs media download links, shared by every instance."""

    key: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaKey:
        return cls(str(data["key"]))
