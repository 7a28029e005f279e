"""Teams -> WhatsApp: an employee's reply in a contact's thread, archived, gated and sent.

Order for one message: the attachments the employee added are fetched and archived; the
employee's message is archived (platform ``teams``, direction ``outbound``); the outbound gate
decides; a relayed message is sent through the Cloud API, rate limits retried with backoff; the
result (the wamid) or the failure is archived, linked to the employee's record; the thread
shows one status card per sent message, updated as statuses arrive (:mod:`bot.relay.posting`).

A message the gate holds (until its sender accepts the policy) is kept as a ``held`` dict:
``kind``, ``conversation``, ``thread`` (the thread document), ``record_id``, ``text``,
``attachments`` and ``template``. Held messages are stored durably by governance, so this
layout is read back by later versions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from bot.cards import posts as cards
from bot.ports import (
    AttachmentError,
    Employee,
    GateDecision,
    OutboundGate,
    SendResult,
    TeamsFiles,
    TeamsPoster,
    WhatsAppSender,
    WhatsAppSendError,
)
from bot.relay.state import ContactThread, SentCard, sent_doc
from bot.relay.templates import Template
from bridge.archive import Archive, dedupe_key_for
from bridge.convert.cloud_api import send_error_record, sent_message_record
from bridge.convert.teams import employee_message_record
from bridge.ids import event_key, media_blob_name
from bridge.record import Attachment, Flag, Party
from bridge.state import DocStore

log = logging.getLogger("wabridge.relay")


class OutboundRelay:
    """Sends employees' messages to their contacts and reports the outcome in the thread."""

    def __init__(
        self,
        archive: Archive,
        *,
        whatsapp: WhatsAppSender,
        gate: OutboundGate,
        poster: TeamsPoster,
        files: TeamsFiles,
        templates: Callable[[], Mapping[str, Template]],
        business_number_id: str,
        retry_delays: Sequence[float] = (1.0, 2.0, 4.0),
    ) -> None:
        self._archive = archive
        self._whatsapp = whatsapp
        self.gate = gate
        self._poster = poster
        self._files = files
        self._templates = templates
        self._business = Party(business_number_id or "business", None, "whatsapp")
        self._retry_delays = tuple(retry_delays)
        self._sent = DocStore(archive.store, SentCard)

    # -- entry points ---------------------------------------------------------------------------
    async def reply(
        self,
        activity: dict[str, Any],
        thread: ContactThread,
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
            contact=Party(thread.wa_id, None, "whatsapp"),
            upn=employee.upn,
            attachments=attachments,
            text=text,
        )
        if template is not None:
            record = replace(record, type="template")
        put = await self._archive.put(record, event_key("teams", "message", activity.get("id")))
        if not put.created:
            # The Bot Connector redelivered an activity we already took: never send it twice.
            log.info("Teams activity %s was already relayed", activity.get("id"))
            return
        if fetch_error:
            await self._say(thread, f"⚠ Not sent: {fetch_error}. Please attach it again.")
            return
        held = {
            "kind": "template" if template else "message",
            "conversation": thread.conversation,
            "thread": thread.to_dict(),
            "record_id": put.record.id,
            "text": text,
            "attachments": [a.to_dict() for a in attachments],
            "template": (
                {"name": template[0].name, "language": template[0].language, "params": template[1]}
                if template
                else None
            ),
        }
        decision = await self.gate.check_outbound(
            employee, text=text, mime_types=[a.mime_type or "" for a in attachments], held=held
        )
        await self.act(decision, held)

    async def act(self, decision: GateDecision, held: dict[str, Any]) -> None:
        """Carry out a gate decision about ``held``."""
        thread = ContactThread.from_dict(held["thread"])
        if decision.action == "relay":
            await self.deliver(held, flags=tuple(decision.flags))
        elif decision.action == "acknowledge":
            activity = cards.message("", [decision.card] if decision.card else [])
            if decision.message:
                activity["text"] = decision.message
            await self._poster.post_reply(thread.endpoint, thread.thread_id or "", activity)
        else:  # refuse, block
            await self._say(thread, f"⚠ Not sent: {decision.message or 'refused by policy'}")

    async def accept_policy(self, employee: Employee, version: str) -> int:
        """The employee accepted the policy card: send what the gate held for them."""
        held_messages = await self.gate.accept_policy(employee, version)
        for held in held_messages:
            await self.deliver(held, flags=tuple(held.get("flags") or ()))
        return len(held_messages)

    # -- sending --------------------------------------------------------------------------------
    async def deliver(
        self, held: dict[str, Any], *, flags: tuple[Any, ...] = ()
    ) -> SendResult | None:
        """Send one message to its contact; archive and show the outcome. Never raises for Meta."""
        thread = ContactThread.from_dict(held["thread"])
        contact = Party(thread.wa_id, None, "whatsapp")
        attachments = [Attachment.from_dict(a) for a in held.get("attachments") or ()]
        try:
            result = await self._with_retries(lambda: self._send(thread.wa_id, held, attachments))
        except WhatsAppSendError as exc:
            await self._archive.put(
                *_keyed(
                    send_error_record(
                        conversation=held["conversation"],
                        business=self._business,
                        contact=contact,
                        code=exc.code,
                        message=exc.message,
                        employee_record_id=held["record_id"],
                        answer=exc.raw,
                    )
                )
            )
            if exc.outside_window:
                notice = cards.window_closed(self._templates())
            elif exc.unreachable:
                notice = cards.send_failed(
                    "the WhatsApp Cloud API could not be reached; please try again", None
                )
            else:
                notice = cards.send_failed(exc.message, exc.code)
            await self._poster.post_reply(thread.endpoint, thread.thread_id or "", notice)
            return None
        record = sent_message_record(
            conversation=held["conversation"],
            business=self._business,
            contact=contact,
            wamid=result.wamid,
            type="template" if held.get("kind") == "template" else _send_type(attachments),
            text=held.get("text"),
            attachments=attachments,
            employee_record_id=held["record_id"],
            flags=[_flag(f) for f in flags],
            answer=result.raw,
        )
        await self._archive.put(record, event_key("whatsapp", "sent", result.wamid))
        card_id = await self._poster.post_reply(
            thread.endpoint, thread.thread_id or "", cards.status_card("sent", to=thread.label)
        )
        await self._sent.create(
            sent_doc(result.wamid),
            SentCard(
                wamid=result.wamid,
                thread_id=thread.thread_id or "",
                activity_id=card_id,
                to=thread.label,
                conversation=held["conversation"],
                record_id=held["record_id"],
                service_url=thread.service_url,
                tenant_id=thread.tenant_id,
                bot_id=thread.bot_id,
            ),
        )
        return result

    async def _send(
        self, wa_id: str, held: dict[str, Any], attachments: list[Attachment]
    ) -> SendResult:
        template = held.get("template")
        if template:
            return await self._whatsapp.send_template(
                wa_id, template["name"], language=template["language"], params=template["params"]
            )
        if not attachments:
            return await self._whatsapp.send_text(wa_id, held.get("text") or "")
        result = None
        for index, attachment in enumerate(attachments):
            data = await self._archive.store.read(media_blob_name(attachment.sha256 or ""))
            result = await self._whatsapp.send_media(
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

    async def _say(self, thread: ContactThread, text: str) -> None:
        await self._poster.post_reply(thread.endpoint, thread.thread_id or "", cards.message(text))

    async def _fetch_attachments(self, activity: dict[str, Any]) -> list[Attachment]:
        out = []
        for file in await self._files.fetch(activity):
            sha, size = await self._archive.put_media_bytes(file.data, mime_type=file.mime_type)
            out.append(
                Attachment(
                    sha256=sha,
                    mime_type=file.mime_type,
                    size=size,
                    filename=file.filename,
                    blob=media_blob_name(sha),
                )
            )
        return out


def _keyed(record):
    return record, dedupe_key_for(record)


def _send_type(attachments: Sequence[Attachment]) -> str:
    if not attachments:
        return "text"
    mime = attachments[0].mime_type or ""
    for prefix in ("image", "video", "audio"):
        if mime.startswith(prefix + "/"):
            return prefix
    return "document"


def _flag(value: Any) -> Flag:
    if isinstance(value, Flag):
        return value
    if isinstance(value, dict):
        return Flag(value.get("rule", ""), value.get("action", ""), value.get("reason", ""))
    return Flag(str(value), "flag", "")
