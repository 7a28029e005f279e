"""The ports: what the core (``bot/relay``, ``bot/governance``, ``bot/capture``) and the
transports (``bot/teams``, ``bot/whatsapp``, ``bot/entra``) know of each other (DESIGN.md §6).

The core talks only to these protocols; the transports implement them (the Cloud API client is
a :class:`WhatsAppSender` and a :class:`MediaFetcher`, the Bot Connector poster a
:class:`TeamsPoster`, ...) or call them (the webhook hands deliveries to an
:class:`InboundIngest`, the Teams handler hands employees' activities to :class:`TeamsActions`).
``bot/app.py`` alone builds both sides and wires them. Tests drive the real adapters against
loopback fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.governance.registry import Member
from bridge.record import Record

# -- WhatsApp --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    """What the Cloud API answered to a send: the new message's wamid and the raw answer."""

    wamid: str
    to: str
    raw: dict[str, Any] = field(default_factory=dict)


class WhatsAppSendError(Exception):
    """The Cloud API refused a send or could not be reached (``code`` is Meta's error code,
    e.g. 131047, 130429; None when there was no answer)."""

    def __init__(
        self,
        code: int | None,
        message: str,
        raw: dict[str, Any] | None = None,
        *,
        http_status: int | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(f"WhatsApp error {code}: {message}")
        self.code = code
        self.message = message
        self.raw = raw or {}
        self.http_status = http_status
        #: No answer at all (connection refused, timed out): the send may be tried again.
        self.unreachable = unreachable

    @property
    def outside_window(self) -> bool:
        """Error 131047: more than 24 hours since the contact last wrote."""
        return self.code == 131047

    @property
    def rate_limited(self) -> bool:
        return self.code in (4, 80007, 130429, 131048, 131056)


class WhatsAppSender(Protocol):
    """Sends through the WhatsApp Business Cloud API as the firm's business number.

    Every failure, a refusal or no answer at all, is a :class:`WhatsAppSendError`."""

    async def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> SendResult: ...

    async def send_media(
        self,
        to: str,
        *,
        media_type: str,
        data: bytes,
        mime_type: str,
        filename: str | None = None,
        caption: str | None = None,
    ) -> SendResult:
        """Upload ``data`` and send it as ``media_type`` (image, document, audio, video)."""

    async def send_template(
        self, to: str, name: str, *, language: str = "en_US", params: Sequence[str] = ()
    ) -> SendResult: ...

    async def mark_read(self, wamid: str) -> None: ...


@dataclass(frozen=True)
class MediaInfo:
    """What ``GET /{media-id}`` answers: a short-lived download URL and the media's facts."""

    media_id: str
    url: str
    mime_type: str | None
    sha256: str | None
    file_size: int | None
    raw: dict[str, Any]


class MediaFetcher(Protocol):
    """Downloads the media an inbound WhatsApp message names (raises WhatsAppSendError)."""

    async def media_info(self, media_id: str) -> MediaInfo: ...

    def stream_media(self, url: str) -> AsyncIterator[bytes]:
        """The bytes behind a media URL, in chunks."""


class InboundIngest(Protocol):
    """Where the webhook hands a verified, parsed delivery: its records (with their dedupe
    keys) are archived, with their media or a durable pending entry, before this returns.

    Raises an ``ArchiveError`` or ``TimeoutError`` when that could not be done (the webhook
    then answers 503 and Meta retries)."""

    async def accept(self, items: Sequence[tuple[Record, str | None]]) -> list[Record]: ...


#: Told of each delivery's records once they are durable (before the 200). Must return quickly
#: and must not fail the delivery: durable work (relaying to Teams) is queued, not done here.
InboundListener = Callable[[Sequence[Record]], Awaitable[None]]


# -- Teams -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamsEndpoint:
    """Where the bot posts into Teams: the Bot Connector service URL of the tenant's region,
    the tenant, and the bot's own id there."""

    service_url: str
    tenant_id: str | None = None
    bot_id: str | None = None


class TeamsUnavailable(Exception):
    """Teams could not be reached or is overloaded (try again later, without limit). Any
    other exception from a :class:`TeamsPoster` is a refusal of that post."""


class TeamsPoster(Protocol):
    """Posts into the Teams inbox channel on behalf of the bot."""

    async def post_new_thread(
        self, endpoint: TeamsEndpoint, channel_id: str, activity: dict[str, Any]
    ) -> tuple[str, str]:
        """Start a thread; returns ``(conversation_id_of_thread, activity_id)``."""

    async def post_reply(
        self, endpoint: TeamsEndpoint, thread_id: str, activity: dict[str, Any]
    ) -> str:
        """Reply into an existing thread; returns the new activity id."""

    async def update(
        self, endpoint: TeamsEndpoint, thread_id: str, activity_id: str, activity: dict[str, Any]
    ) -> None:
        """Replace an earlier post of the bot (e.g. a status line)."""


@dataclass(frozen=True)
class FetchedFile:
    """A file an employee attached in Teams, downloaded."""

    data: bytes
    mime_type: str
    filename: str | None


class AttachmentError(Exception):
    """An attachment of the employee could not be fetched from Teams (the message says why)."""


class TeamsFiles(Protocol):
    """Downloads the files an employee attached to a Teams activity."""

    async def fetch(self, activity: dict[str, Any]) -> list[FetchedFile]:
        """Every file attachment of ``activity`` (none: ``[]``); raises AttachmentError."""


class SignedMedia(Protocol):
    """Checks the signature of a media link the bot put into a Teams post."""

    async def check(self, sha256_hex: str, expires: str, sig: str) -> bool: ...


@dataclass(frozen=True)
class Employee:
    """The Teams user behind an activity (``from.aadObjectId``; UPN via ``TeamsInfo.get_member``)."""

    object_id: str
    name: str | None = None
    upn: str | None = None
    tenant_id: str | None = None


#: Looks the employee of an activity up (a directory call: only made when needed).
EmployeeLookup = Callable[[], Awaitable[Employee]]


@dataclass(frozen=True)
class TeamsMessage:
    """A message an employee sent the bot: in a channel (``channel_id`` set) or personally.

    ``activity`` is the activity exactly as received (archived verbatim); ``text`` what the
    employee typed, the bot's mention removed."""

    activity: dict[str, Any]
    text: str
    conversation_id: str
    employee: EmployeeLookup
    channel_id: str | None = None
    team_id: str | None = None
    endpoint: TeamsEndpoint | None = None
    bot_name: str | None = None


class TeamsActions(Protocol):
    """What the core does with employees' activities (the Teams handler's only counterpart).

    Each returns the activities to answer the employee with, in the conversation they wrote in.
    """

    async def channel_message(self, message: TeamsMessage) -> list[dict[str, Any]]:
        """A message in a channel: ``setup``, or a reply in a contact's thread."""

    async def personal_message(self, message: TeamsMessage) -> list[dict[str, Any]]:
        """A message in the personal chat with the bot (``new``, ``help``)."""

    async def accept_policy(self, employee: Employee, version: str) -> list[dict[str, Any]]:
        """The employee clicked Accept on the policy card of ``version``."""

    async def message_changed(self, activity: dict[str, Any], employee: EmployeeLookup) -> None:
        """An employee edited or deleted a message in a contact's thread."""

    async def bot_installed(self) -> list[dict[str, Any]]:
        """The bot was added to a team."""

    async def foreign_tenant(self, activity: dict[str, Any], theirs: str | None) -> None:
        """An activity of another organisation's tenant was refused: archive the attempt."""


# -- governance ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateDecision:
    """What governance decided about one outbound message of an employee.

    ``action``: ``relay`` (send it, with ``flags`` on its record), ``refuse`` (not a registered
    employee: tell them ``message``), ``acknowledge`` (hold it; show ``card``, the policy with an
    Accept button; it is sent once after Accept) or ``block`` (not sent; ``message`` says which
    rule and why). ``records`` are the ``policy`` records governance archived for the decision.
    """

    action: str
    message: str | None = None
    card: dict[str, Any] | None = None
    flags: tuple[Any, ...] = ()
    records: tuple[Record, ...] = ()


class OutboundGate(Protocol):
    """Governance at the moment of sending: authorization, acknowledgement, lexicon."""

    async def check_outbound(
        self, employee: Employee, *, text: str, mime_types: Sequence[str], held: dict[str, Any]
    ) -> GateDecision:
        """Decide about one message. ``held`` is what the relay needs to send it later
        (kept durably by the gate when the decision is ``acknowledge``)."""

    async def accept_policy(self, employee: Employee, version: str) -> list[dict[str, Any]]:
        """Record the acknowledgement; return the held messages to send now, each exactly once."""

    async def refusal(self, employee: Employee, *, text: str, held: dict[str, Any]) -> str | None:
        """Why ``employee`` may not use the relay at all (archived as a refusal), asked before
        anything is opened for them; None if they may."""

    def inbound_flags(self, text: str) -> tuple[Any, ...]:
        """Lexicon findings on an inbound message (direction inbound/both)."""


class Directory(Protocol):
    """Where the authorized users come from (Entra ID through Microsoft Graph)."""

    async def group_members(self, group_id: str) -> list[Member]:
        """Every user who is a member of the group, directly or through nested groups."""

    async def close(self) -> None: ...


class DirectoryError(Exception):
    """The directory could not be read completely; nothing was changed."""
