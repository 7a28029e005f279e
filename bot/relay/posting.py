"""Posting: one archived WhatsApp record shown in Teams.

A message, reaction, edit, deletion or system notice of a contact is posted into the contact's
thread (which its first post starts), and the post itself is archived, linked to the record
(DESIGN.md §3.5). A status updates the status card of the outbound message it reports on, and
a failed one explains itself in the thread (the 24-hour rule, with the approved templates).
Statuses never open a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bot.cards import posts as cards
from bot.ports import TeamsPoster
from bot.relay.inbox import InboxCache
from bot.relay.media_links import MediaLinks
from bot.relay.parked import NotYet, RetryLater
from bot.relay.state import SentCard, sent_doc
from bot.relay.templates import Template
from bot.relay.threads import ThreadMap
from bridge.archive import Archive
from bridge.convert.teams import relay_post_record
from bridge.ids import event_key
from bridge.record import Record
from bridge.state import DocStore

RELAYED_KINDS = ("message", "reaction", "edit", "delete", "system")
WINDOW_CLOSED = 131047


def wants_relay(record: Record) -> bool:
    """Which archived WhatsApp records show up in Teams (statuses only update; never open)."""
    if record.platform != "whatsapp" or not (record.conversation or "").startswith("wa:"):
        return False
    if record.kind == "status":
        return True
    return record.direction == "inbound" and record.kind in RELAYED_KINDS


class InboundPoster:
    """Shows inbound WhatsApp records in their contacts' threads."""

    def __init__(
        self,
        archive: Archive,
        poster: TeamsPoster,
        threads: ThreadMap,
        inbox: InboxCache,
        links: MediaLinks,
        templates: Callable[[], Mapping[str, Template]],
    ) -> None:
        self._archive = archive
        self._poster = poster
        self._threads = threads
        self._inbox = inbox
        self._links = links
        self._templates = templates
        self._sent = DocStore(archive.store, SentCard)

    async def show(self, record: Record) -> None:
        """Post ``record`` (or update the card a status reports on) and archive the post.
        Raises RetryLater, NotYet, TeamsUnavailable, an archive error, or whatever the poster
        refused with."""
        post = await self.post(record)
        if post is not None:
            await self.archive_post(post)

    async def post(self, record: Record) -> Record | None:
        """Like :meth:`show`, but return the record of the bot's post (None for a status)
        instead of archiving it: the caller archives it (:meth:`archive_post`)."""
        if record.kind == "status":
            await self._status(record)
            return None
        return await self._post(record)

    async def archive_post(self, post: Record) -> None:
        """Archive the record of a post (exactly once however often this is called)."""
        await self._archive.put(post, event_key("teams", "relay", post.relates_to))

    async def render(self, record: Record) -> dict[str, Any]:
        media = []
        for attachment in record.attachments:
            if attachment.sha256:
                media.append(
                    (attachment, await self._links.link(attachment.sha256, attachment.filename))
                )
        return cards.inbound_post(record, media, map_link(record.raw))

    async def _post(self, record: Record) -> Record:
        binding = await self._inbox.get()
        if binding is None:
            raise RetryLater("no Teams channel is bound as the WhatsApp inbox yet (send `setup`)")
        activity = await self.render(record)
        wa_id = record.sender.id if record.sender else None
        thread, root = await self._threads.ensure(
            record.conversation or "", wa_id, binding, activity
        )
        if root is not None:
            activity_id = root
        else:
            activity_id = await self._poster.post_reply(
                thread.endpoint, thread.thread_id or "", activity
            )
        return relay_post_record(
            record,
            activity=activity,
            activity_id=activity_id,
            thread_id=thread.thread_id or "",
            channel_id=thread.channel_id or binding.channel_id,
            bot_id=thread.bot_id,
        )

    async def _status(self, record: Record) -> None:
        wamid = record.source_id or record.relates_to or (record.raw or {}).get("id")
        card = await self._sent.get(sent_doc(wamid)) if wamid else None
        if card is None:
            raise NotYet(wamid)
        status = record.status or "unknown"
        errors = (record.raw or {}).get("errors") or []
        if status == "failed":
            if WINDOW_CLOSED in [e.get("code") for e in errors]:
                notice = cards.window_closed(self._templates())
            else:
                first = errors[0] if errors else {}
                detail = (
                    (first.get("error_data") or {}).get("details")
                    or first.get("message")
                    or first.get("title")
                    or "WhatsApp did not deliver the message"
                )
                notice = cards.send_failed(detail, first.get("code"))
            await self._poster.post_reply(card.endpoint, card.thread_id, notice)
        if not _later(status, card.status):
            return
        await self._poster.update(
            card.endpoint, card.thread_id, card.activity_id, cards.status_card(status, to=card.to)
        )

        def mark(current: SentCard | None) -> SentCard | None:
            if current is None or not _later(status, current.status):
                return None
            return replace(current, status=status)

        await self._sent.update(sent_doc(wamid), mark)


def _later(status: str, than: str | None) -> bool:
    return cards.STATUS_RANK.get(status, -1) > cards.STATUS_RANK.get(than or "", -1)


def map_link(raw: Any) -> str | None:
    """An OpenStreetMap link to the location a payload shares, if it shares one."""
    location = _find_location(raw)
    if not location:
        return None
    lat, lon = location.get("latitude"), location.get("longitude")
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=16/{lat}/{lon}"


def _find_location(node: Any, depth: int = 0) -> dict[str, Any] | None:
    if depth > 6:
        return None
    if isinstance(node, dict):
        if "latitude" in node and "longitude" in node:
            return node
        for value in node.values():
            found = _find_location(value, depth + 1)
            if found:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _find_location(value, depth + 1)
            if found:
                return found
    return None
