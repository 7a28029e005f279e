"""Protocols between the relay core and its adapters (DESIGN.md §6).

The WhatsApp Cloud API client implements :class:`WhatsAppSender`; the Bot Connector side
implements :class:`TeamsSender`. Tests drive the real adapters against loopback fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.record import Record


@dataclass(frozen=True)
class SendResult:
    """What the Cloud API answered to a send: the new message's wamid and the raw answer."""

    wamid: str
    to: str
    raw: dict[str, Any] = field(default_factory=dict)


class WhatsAppSendError(Exception):
    """The Cloud API refused a send (``code`` is Meta's error code, e.g. 131047, 130429)."""

    def __init__(self, code: int | None, message: str, raw: dict[str, Any] | None = None,
                 *, http_status: int | None = None) -> None:
        super().__init__(f"WhatsApp error {code}: {message}")
        self.code = code
        self.message = message
        self.raw = raw or {}
        self.http_status = http_status

    @property
    def outside_window(self) -> bool:
        """Error 131047: more than 24 hours since the contact last wrote."""
        return self.code == 131047

    @property
    def rate_limited(self) -> bool:
        return self.code in (4, 80007, 130429, 131048, 131056)


class WhatsAppSender(Protocol):
    """Sends through the WhatsApp Business Cloud API as the firm's business number."""

    async def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> SendResult: ...

    async def send_media(
        self, to: str, *, media_type: str, data: bytes, mime_type: str,
        filename: str | None = None, caption: str | None = None,
    ) -> SendResult:
        """Upload ``data`` and send it as ``media_type`` (image, document, audio, video)."""

    async def send_template(
        self, to: str, name: str, *, language: str = "en_US", params: Sequence[str] = (),
    ) -> SendResult: ...

    async def mark_read(self, wamid: str) -> None: ...


#: Called with the records of one webhook delivery once they are durable (before the 200).
#: Must return quickly and must not raise: durable work (relaying to Teams) is queued, not done.
InboundListener = Callable[[Sequence[Record]], Awaitable[None]]


class TeamsSender(Protocol):
    """Posts into the Teams inbox channel on behalf of the bot."""

    async def post_new_thread(self, channel_id: str, activity: dict[str, Any]) -> tuple[str, str]:
        """Start a thread; returns ``(conversation_id_of_thread, activity_id)``."""

    async def post_reply(self, thread_conversation_id: str, activity: dict[str, Any]) -> str:
        """Reply into an existing thread; returns the new activity id."""

    async def update(self, thread_conversation_id: str, activity_id: str, activity: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Employee:
    """The Teams user behind an activity (``from.aadObjectId``; UPN via ``TeamsInfo.get_member``)."""

    object_id: str
    name: str | None = None
    upn: str | None = None
    tenant_id: str | None = None


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
        self, employee: Employee, *, text: str, mime_types: Sequence[str], held: dict[str, Any],
    ) -> GateDecision:
        """Decide about one message. ``held`` is what the relay needs to send it later
        (kept durably by the gate when the decision is ``acknowledge``)."""

    async def accept_policy(self, employee: Employee, version: str) -> list[dict[str, Any]]:
        """Record the acknowledgement; return the held messages to send now, each exactly once."""

    def inbound_flags(self, text: str) -> tuple[Any, ...]:
        """Lexicon findings on an inbound message (direction inbound/both)."""
