"""Teams -> WhatsApp: an employee's reply in a contact's thread, archived, gated and sent.

Order for one message: the attachments the employee added are fetched (with the bot's token)
and archived; the employee's message is archived (platform ``teams``, direction ``outbound``);
the outbound gate decides; a relayed message is sent through the Cloud API, rate limits retried
with backoff; the result (the wamid) or the failure is archived, linked to the employee's
record; the thread shows one status card per sent message, updated as statuses arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.ports import Employee, OutboundGate, SendResult, WhatsAppSender, WhatsAppSendError
from bot.relay.docs import create_json, sent_doc
from bot.relay.templates import Template
from bot.teams import cards
from bridge.archive import Archive, dedupe_key_for
from bridge.convert.teams import employee_message_record, is_file_attachment
from bridge.ids import event_key, media_blob_name
from bridge.record import Attachment, Party, Record, now_rfc3339

log = logging.getLogger("wabridge.relay")

TokenProvider = Callable[[], Awaitable[str | None]]
MAX_DOWNLOAD = 100 * 1024 * 1024


@dataclass(frozen=True)
class Thread:
    """A contact's thread, as stored in ``state/relay/threads/<conversation>.json``."""

    conversation: str
    wa_id: str
    thread_id: str
    doc: dict[str, Any]

    @property
    def contact(self) -> Party:
        return Party(self.wa_id, None, "whatsapp")

    @property
    def label(self) -> str:
        return self.wa_id if self.wa_id.startswith("+") else f"+{self.wa_id}"


class AttachmentError(Exception):
    """An attachment of the employee could not be fetched from Teams."""


class OutboundRelay:
    """Sends employees' messages to their contacts and reports the outcome in the thread."""

    def __init__(
        self,
        archive: Archive,
        *,
        whatsapp: Callable[[], WhatsAppSender],
        gate: Callable[[], OutboundGate],
        templates: Callable[[], dict[str, Template]],
        make_sender: Callable[[dict[str, Any]], Any],
        business_number_id: str,
        bot_token: TokenProvider,
        retry_delays: Sequence[float] = (1.0, 2.0, 4.0),
    ) -> None:
        self._archive = archive
        self._whatsapp = whatsapp
        self._gate = gate
        self._templates = templates
        self._make_sender = make_sender
        self._business = Party(business_number_id or "business", None, "whatsapp")
        self._bot_token = bot_token
        self._retry_delays = tuple(retry_delays)

    # -- entry points ---------------------------------------------------------------------------
    async def reply(
        self,
        activity: dict[str, Any],
        thread: Thread,
        employee: Employee,
        *,
        text: str,
        template: tuple[Template, list[str]] | None = None,
    ) -> None:
        """An employee's reply (or ``template`` command) in ``thread``."""
        attachments: list[Attachment] = []
        fetch_error = None
        if template is None:
            try:
                attachments = await self._fetch_attachments(activity)
            except AttachmentError as exc:
                fetch_error = str(exc)
        record = employee_message_record(
            activity,
            conversation=thread.conversation,
            contact=thread.contact,
            upn=employee.upn,
            attachments=attachments,
            text=text,
        )
        if template is not None:
            record = _with_type(record, "template")
        put = await self._archive.put(record, event_key("teams", "message", activity.get("id")))
        stored = put.record
        if not put.created:
            # The Bot Connector redelivered an activity we already took: never send it twice.
            log.info("Teams activity %s was already relayed", activity.get("id"))
            return
        poster = self._make_sender(thread.doc)
        if fetch_error:
            await poster.post_reply(
                thread.thread_id,
                cards.message(f"⚠ Not sent: {fetch_error}. Please attach it again."),
            )
            return
        held = {
            "kind": "template" if template else "message",
            "conversation": thread.conversation,
            "thread": thread.doc,
            "record_id": stored.id,
            "text": text,
            "attachments": [a.to_dict() for a in attachments],
            "template": (
                {"name": template[0].name, "language": template[0].language, "params": template[1]}
                if template
                else None
            ),
        }
        decision = await self._gate().check_outbound(
            employee,
            text=text,
            mime_types=[a.mime_type or "" for a in attachments],
            held=held,
        )
        await self.act(decision, held)

    async def act(self, decision: Any, held: dict[str, Any]) -> None:
        """Carry out a gate decision about ``held``."""
        thread = held["thread"]
        poster = self._make_sender(thread)
        if decision.action == "relay":
            await self.deliver(held, flags=tuple(decision.flags))
        elif decision.action == "acknowledge":
            activity = cards.message("", [decision.card] if decision.card else [])
            if decision.message:
                activity["text"] = decision.message
            await poster.post_reply(thread["thread_id"], activity)
        else:  # refuse, block
            await poster.post_reply(
                thread["thread_id"],
                cards.message(f"⚠ Not sent: {decision.message or 'refused by policy'}"),
            )

    async def refusal(
        self, employee: Employee, *, text: str, conversation: str, activity_id: str | None
    ) -> str | None:
        """Governance's refusal of an employee who may not use the relay at all, asked before
        anything (a new thread) is opened for them; None if they may."""
        gate = self._gate()
        authorized = getattr(gate, "authorized", None)
        if authorized is None or await authorized(employee.object_id) is not None:
            return None
        decision = await gate.check_outbound(
            employee,
            text=text,
            mime_types=[],
            held={"conversation": conversation, "activity_id": activity_id},
        )
        return decision.message if decision.action == "refuse" else None

    async def accept_policy(self, employee: Employee, version: str) -> int:
        """The employee accepted the policy card: send what the gate held for them."""
        held_messages = await self._gate().accept_policy(employee, version)
        for held in held_messages:
            await self.deliver(held, flags=tuple(held.get("flags") or ()))
        return len(held_messages)

    # -- sending --------------------------------------------------------------------------------
    async def deliver(
        self, held: dict[str, Any], *, flags: tuple[Any, ...] = ()
    ) -> SendResult | None:
        """Send one message to its contact; archive and show the outcome. Never raises for Meta."""
        thread = held["thread"]
        wa_id = thread["wa_id"]
        poster = self._make_sender(thread)
        attachments = [Attachment.from_dict(a) for a in held.get("attachments") or ()]
        try:
            result = await self._with_retries(lambda: self._send(wa_id, held, attachments))
        except WhatsAppSendError as exc:
            await self._archive_error(held, exc)
            if exc.outside_window:
                await poster.post_reply(thread["thread_id"], cards.window_closed(self._templates()))
            else:
                await poster.post_reply(
                    thread["thread_id"], cards.send_failed(exc.message, exc.code)
                )
            return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self._archive_error(
                held, WhatsAppSendError(None, f"Cloud API unreachable: {exc}")
            )
            await poster.post_reply(
                thread["thread_id"],
                cards.send_failed(
                    "the WhatsApp Cloud API could not be reached; please try again", None
                ),
            )
            return None
        label = wa_id if wa_id.startswith("+") else f"+{wa_id}"
        record = Record(
            conversation=held["conversation"],
            platform="whatsapp",
            direction="outbound",
            kind="message",
            type=held.get("kind") == "template" and "template" or _send_type(attachments),
            source_id=result.wamid,
            sent_at=now_rfc3339(),
            captured_at="",
            sender=self._business,
            recipients=(Party(wa_id, None, "whatsapp"),),
            text=held.get("text") or None,
            attachments=tuple(attachments),
            relates_to=held["record_id"],
            flags=tuple(_flag(f) for f in flags),
            raw=result.raw,
        )
        await self._archive.put(record, event_key("whatsapp", "sent", result.wamid))
        card_id = await poster.post_reply(thread["thread_id"], cards.status_card("sent", to=label))
        await create_json(
            self._archive.store,
            sent_doc(result.wamid),
            {
                "wamid": result.wamid,
                "thread_id": thread["thread_id"],
                "activity_id": card_id,
                "to": label,
                "conversation": held["conversation"],
                "record_id": held["record_id"],
                "status": "sent",
                "service_url": thread.get("service_url"),
                "tenant_id": thread.get("tenant_id"),
                "bot_id": thread.get("bot_id"),
            },
        )
        return result

    async def _send(
        self, wa_id: str, held: dict[str, Any], attachments: list[Attachment]
    ) -> SendResult:
        client = self._whatsapp()
        template = held.get("template")
        if template:
            return await client.send_template(
                wa_id, template["name"], language=template["language"], params=template["params"]
            )
        if not attachments:
            return await client.send_text(wa_id, held.get("text") or "")
        result = None
        for index, attachment in enumerate(attachments):
            data = await self._archive.store.read(media_blob_name(attachment.sha256))
            result = await client.send_media(
                wa_id,
                media_type=_send_type([attachment]),
                data=data,
                mime_type=attachment.mime_type or "application/octet-stream",
                filename=attachment.filename,
                caption=(held.get("text") or None) if index == 0 else None,
            )
        return result  # type: ignore[return-value]

    async def _with_retries(self, send: Callable[[], Awaitable[SendResult]]) -> SendResult:
        for delay in (*self._retry_delays, None):
            try:
                return await send()
            except WhatsAppSendError as exc:
                if not exc.rate_limited or delay is None:
                    raise
                log.info("WhatsApp rate limit (%s); retrying in %.1fs", exc.code, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _archive_error(self, held: dict[str, Any], exc: WhatsAppSendError) -> None:
        record = Record(
            conversation=held["conversation"],
            platform="whatsapp",
            direction="outbound",
            kind="error",
            type=str(exc.code) if exc.code is not None else None,
            source_id=None,
            sent_at=now_rfc3339(),
            captured_at="",
            sender=self._business,
            recipients=(Party(held["thread"]["wa_id"], None, "whatsapp"),),
            text=exc.message,
            relates_to=held["record_id"],
            raw=exc.raw or {"code": exc.code, "message": exc.message},
        ).sealed()
        await self._archive.put(record, dedupe_key_for(record))

    # -- attachments ----------------------------------------------------------------------------
    async def _fetch_attachments(self, activity: dict[str, Any]) -> list[Attachment]:
        wanted = [a for a in activity.get("attachments") or () if is_file_attachment(a)]
        if not wanted:
            return []
        out = []
        token = await self._bot_token()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            for item in wanted:
                out.append(await self._fetch_one(session, item, token))
        return out

    async def _fetch_one(
        self, session: aiohttp.ClientSession, item: dict[str, Any], token: str | None
    ) -> Attachment:
        name = item.get("name")
        if item.get("contentType") == "application/vnd.microsoft.teams.file.download.info":
            # A file from SharePoint/OneDrive: the download URL is pre-authorized.
            url = (item.get("content") or {}).get("downloadUrl")
            headers: dict[str, str] = {}
        else:
            url = item.get("contentUrl")
            headers = {"Authorization": f"Bearer {token}"} if token else {}
        if not url:
            raise AttachmentError(f"the attachment {name or ''} has no download link")
        try:
            async with session.get(url, headers=headers) as resp:
                if resp.status != 200:
                    raise AttachmentError(
                        f"Teams refused the download of {name or 'an attachment'} "
                        f"(HTTP {resp.status})"
                    )
                if (resp.content_length or 0) > MAX_DOWNLOAD:
                    raise AttachmentError(f"{name or 'the attachment'} is too large")
                mime = (
                    item.get("contentType")
                    if "/" in (item.get("contentType") or "")
                    and not item.get("contentType", "").startswith("application/vnd.microsoft")
                    else resp.content_type
                )
                data = await resp.read()
        except aiohttp.ClientError as exc:
            raise AttachmentError(
                f"the download of {name or 'an attachment'} failed: {exc}"
            ) from None
        if mime in (None, "", "image/*"):
            mime = resp.content_type or "application/octet-stream"
        sha, size = await self._archive.put_media_bytes(data, mime_type=mime)
        return Attachment(
            sha256=sha, mime_type=mime, size=size, filename=name, blob=media_blob_name(sha)
        )


def _send_type(attachments: Sequence[Attachment]) -> str:
    if not attachments:
        return "text"
    mime = attachments[0].mime_type or ""
    for prefix in ("image", "video", "audio"):
        if mime.startswith(prefix + "/"):
            return prefix
    return "document"


def _with_type(record: Record, kind_type: str) -> Record:
    from dataclasses import replace

    return replace(record, type=kind_type)


def _flag(value: Any):
    from bridge.record import Flag

    if isinstance(value, Flag):
        return value
    if isinstance(value, dict):
        return Flag(value.get("rule", ""), value.get("action", ""), value.get("reason", ""))
    return Flag(str(value), "flag", "")
