"""WhatsApp -> Teams: the archived records a contact's thread shows, and the worker posting them.

Nothing is queued on the webhook's path: the records are in the archive and its ledger before
Meta gets its 200, and the worker follows the ledger (:mod:`bot.relay.feed`). One instance at a
time reads it; for each contact it posts the new records into the contact's thread in order.
What cannot be posted now (Bot Connector down, a status before its card, a thread being started
elsewhere) is parked in the contact's queue ``state/relay/pending/<conversation>.json``, with
everything after it for that contact, and retried with backoff, across restarts, under a lease
on that queue. While no inbox is bound nothing moves: the records wait in the ledger. Two
instances never post one contact's records at the same time, so a new contact gets exactly one
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot.ports import TeamsSender
from bot.relay.docs import (
    INBOX,
    PENDING_PREFIX,
    pending_doc,
    read_json,
    sent_doc,
    teams_thread_doc,
    thread_doc,
    update_json,
    write_json,
)
from bot.relay.feed import WHATSAPP_RECORDS, FeedBatch, LeaseLost, LedgerFeed
from bot.relay.media_links import MediaLinks
from bot.relay.templates import Template
from bot.teams import cards
from bridge.archive import Archive, PutResult
from bridge.errors import ArchiveUnavailable, ConcurrentUpdate
from bridge.ids import event_key
from bridge.record import Party, Record, now_rfc3339

log = logging.getLogger("wabridge.relay")

RELAYED_KINDS = ("message", "reaction", "edit", "delete", "system")
WINDOW_CLOSED = 131047
#: Retries of an item whose Teams counterpart is not there yet (a status before its card).
MAX_EARLY_ATTEMPTS = 3
#: Retries of an item that keeps failing for another reason before it is set aside.
MAX_FAILED_ATTEMPTS = 20
#: How long a claim to start a contact's thread holds if its holder never finishes.
THREAD_CLAIM_SECONDS = 300.0
#: Contacts whose records are posted at once.
CONTACTS_AT_ONCE = 8
#: Records this instance wrote and remembers (so that the feed need not read them back).
REMEMBERED_RECORDS = 4096
#: At shutdown, how long the pass under way may take to finish before it is cancelled.
STOP_GRACE_SECONDS = 5.0
#: After a wake-up, how long to let more records gather before a pass.
GATHER_SECONDS = 0.1


class RetryLater(Exception):
    """Teams cannot take this item now (connector down, no inbox yet): keep it queued."""


class NotYet(Exception):
    """The item refers to something not posted yet (a status before its card)."""


SenderFactory = Callable[[dict[str, Any]], TeamsSender]


def wants_relay(record: Record) -> bool:
    """Which archived WhatsApp records show up in Teams (statuses only update; never open)."""
    if record.platform != "whatsapp" or not (record.conversation or "").startswith("wa:"):
        return False
    if record.kind == "status":
        return True
    return record.direction == "inbound" and record.kind in RELAYED_KINDS


class InboundRelay:
    """The inbound listener and the background worker of one service instance."""

    def __init__(
        self,
        archive: Archive,
        make_sender: SenderFactory,
        links: MediaLinks,
        templates: Callable[[], dict[str, Template]],
        *,
        poll_interval: float = 2.0,
        lease_seconds: float = 60.0,
    ) -> None:
        self._archive = archive
        self._store = archive.store
        self._make_sender = make_sender
        self._links = links
        self._templates = templates
        self._poll = poll_interval
        self._lease = lease_seconds
        self.instance = uuid.uuid4().hex
        self._feed = LedgerFeed(self._store, self.instance, lease_seconds=lease_seconds)
        #: name -> the record if Teams should show it, None if not: what this instance wrote.
        self._written: OrderedDict[str, Record | None] = OrderedDict()
        archive.observers.append(self._remember)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._not_before: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        #: Thread-start claims this instance may hold (document name -> claim token).
        self._claims: dict[str, str] = {}
        self._stopping = False
        self._inbox_bound = False
        self._pass = asyncio.Lock()

    # -- the listeners --------------------------------------------------------------------------
    async def enqueue(self, records: Sequence[Record]) -> None:
        """The webhook's listener: its records are durable in the ledger already; look soon
        (if an inbox is bound: until then the poll notices a binding made elsewhere)."""
        if self._inbox_bound and any(wants_relay(r) for r in records):
            self._wake.set()

    def _remember(self, result: PutResult) -> None:
        """Archive observer: keep what was just written, so that the feed does not read it."""
        if not result.name.startswith(WHATSAPP_RECORDS):
            return
        self._written[result.name] = result.record if wants_relay(result.record) else None
        self._written.move_to_end(result.name)
        while len(self._written) > REMEMBERED_RECORDS:
            self._written.popitem(last=False)

    # -- the worker -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="wabridge-inbound-relay")

    async def stop(self) -> None:
        """Stop the worker; give up any thread-start claim it was interrupted holding."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            # Let the pass under way finish what it is posting (so that each post is recorded
            # and the cursor moved past it, and the next holder does not post it again).
            await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
            # A cancellation can be lost inside ``asyncio.wait_for`` on Python 3.11 (e.g. in a
            # storage SDK call): repeat it until the task has really ended.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        with contextlib.suppress(ConcurrentUpdate, ArchiveUnavailable):
            await self._feed.release()
        for name, token in list(self._claims.items()):
            await self._drop_claim(name, token)
        self._claims.clear()

    def wake(self, *, now: bool = False) -> None:
        """Look at the queues again soon; ``now`` also forgets the backoff of waiting contacts
        (e.g. once an inbox is bound, everything that waited for one can go)."""
        if now:
            self._not_before.clear()
            self._failures.clear()
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except ArchiveUnavailable as exc:
                log.warning("inbound relay waiting for the archive: %s", exc)
            except Exception:  # keep the worker alive; the items stay queued
                log.exception("inbound relay pass failed")
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
                await asyncio.sleep(GATHER_SECONDS)

    async def run_once(self) -> None:
        """One pass: post what the ledger gained, then retry the parked records that are due.
        (One pass at a time per instance: the lease is the instance's.)"""
        async with self._pass:
            self._inbox_bound = await read_json(self._store, INBOX) is not None
            if not self._inbox_bound:
                return  # nothing can be shown before an inbox is bound; the records wait
            await self.follow_ledger()
            await self.drain_parked()

    async def follow_ledger(self) -> None:
        """Post the records the ledger gained (if this instance holds the feed)."""
        while True:
            batch = await self._feed.read()
            if batch is None:
                return
            await self._handle(batch)
            try:
                await self._feed.commit(batch)
            except LeaseLost as exc:
                log.warning("relay feed taken over by another instance: %s", exc)
                return
            if not batch.more or self._stopping:
                return

    async def _handle(self, batch: FeedBatch) -> None:
        records = await self._records_of(batch)
        by_contact: dict[str, list[tuple[str, Record]]] = {}
        for entry in batch.entries:
            record = records.get(entry.name)
            if record is not None:
                by_contact.setdefault(record.conversation or "", []).append((entry.name, record))
        if not by_contact:
            return
        parked = {info.name async for info in self._store.list(PENDING_PREFIX)}
        sem = asyncio.Semaphore(CONTACTS_AT_ONCE)

        async def one(conversation: str, items: list[tuple[str, Record]]) -> None:
            items.sort(key=lambda item: item[1].id)
            async with sem:
                if pending_doc(conversation) in parked:
                    await self._park(conversation, items)  # behind what waits already
                else:
                    await self._post_in_order(conversation, items)

        await asyncio.gather(*(one(c, items) for c, items in by_contact.items()))

    async def _records_of(self, batch: FeedBatch) -> dict[str, Record]:
        """The records of ``batch`` Teams should show: remembered, or read back if another
        instance (or this one before a restart) wrote them."""
        found: dict[str, Record] = {}
        unknown: list[str] = []
        for entry in batch.entries:
            if entry.name in self._written:
                record = self._written.pop(entry.name)
                if record is not None:
                    found[entry.name] = record
            else:
                unknown.append(entry.name)
        sem = asyncio.Semaphore(16)

        async def read(name: str) -> None:
            async with sem:
                record = await self._archive.read_record(name)
            if wants_relay(record):
                found[name] = record

        await asyncio.gather(*(read(n) for n in unknown))
        return found

    async def _post_in_order(self, conversation: str, items: list[tuple[str, Record]]) -> None:
        for index, (_name, record) in enumerate(items):
            try:
                await self._relay(record)
            except Exception as exc:  # noqa: BLE001 - parked and retried by the drain
                log.info("relay of %s to Teams parked (%s)", record.id, exc or type(exc).__name__)
                await self._park(conversation, items[index:])
                return

    async def _park(self, conversation: str, items: list[tuple[str, Record]]) -> None:
        fresh_items = [{"id": r.id, "name": name, "attempts": 0} for name, r in items]

        def append(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            doc = doc or {"conversation": conversation, "items": [], "lease": None}
            known = {i["id"] for i in doc["items"]}
            fresh = [i for i in fresh_items if i["id"] not in known]
            if not fresh:
                return None
            doc["items"].extend(fresh)
            return doc

        await update_json(self._store, pending_doc(conversation), append)

    async def drain_parked(self) -> None:
        """Retry every contact's parked records that are due."""
        names = [info.name async for info in self._store.list(PENDING_PREFIX)]
        now = time.monotonic()
        due = [n for n in names if self._not_before.get(n, 0) <= now]
        sem = asyncio.Semaphore(8)

        async def one(name: str) -> None:
            async with sem:
                await self._drain(name)

        await asyncio.gather(*(one(n) for n in due))

    async def _drain(self, name: str) -> None:
        owner = f"{self.instance}/{uuid.uuid4().hex[:12]}"
        if not await self._acquire(name, owner):
            return
        try:
            while not self._stopping:
                doc = await read_json(self._store, name)
                if not doc or (doc.get("lease") or {}).get("owner") != owner:
                    return
                if not doc["items"]:
                    await self._delete_if_empty(name)
                    return
                item = doc["items"][0]
                try:
                    try:
                        await self._relay(await self._parked_record(item))
                    except NotYet:
                        raise
                    except Exception as exc:
                        if _unavailable(exc):
                            raise RetryLater(str(exc)) from exc
                        raise
                except NotYet:
                    if item.get("attempts", 0) + 1 < MAX_EARLY_ATTEMPTS:
                        await self._bump(name, item["id"])
                        self._backoff(name, 1.0)
                        await self._release(name, owner)
                        return
                    log.info("status for a message without a Teams card: %s", item["id"])
                except RetryLater as exc:
                    failures = self._failures.get(name, 0) + 1
                    self._failures[name] = failures
                    log.warning("relay to Teams deferred (%s); retrying", exc)
                    self._backoff(name, min(0.5 * 2**failures, 60.0))
                    await self._release(name, owner)
                    return
                except Exception as exc:
                    if item.get("attempts", 0) + 1 < MAX_FAILED_ATTEMPTS:
                        failures = self._failures.get(name, 0) + 1
                        self._failures[name] = failures
                        log.warning("relay to Teams failed (%s); retrying", exc)
                        await self._bump(name, item["id"])
                        self._backoff(name, min(0.5 * 2**failures, 60.0))
                        await self._release(name, owner)
                        return
                    log.exception("relay of record %s to Teams failed; set aside", item["id"])
                    await self._archive_failure(item["id"], exc, doc.get("conversation"))
                self._failures.pop(name, None)
                await self._remove(name, item["id"], owner)
        finally:
            await self._release(name, owner)

    async def _parked_record(self, item: dict[str, Any]) -> Record:
        if "record" in item:  # parked whole by an earlier version
            return Record.from_dict(item["record"])
        return await self._archive.read_record(item["name"])

    def _backoff(self, name: str, seconds: float) -> None:
        self._not_before[name] = time.monotonic() + seconds

    async def _acquire(self, name: str, owner: str) -> bool:
        now = time.time()

        def take(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None:
                return None
            lease = doc.get("lease") or {}
            if lease.get("owner") is not None and lease.get("until", 0) > now:
                return None
            doc["lease"] = {"owner": owner, "until": now + self._lease}
            return doc

        try:
            doc = await update_json(self._store, name, take, attempts=3)
        except ConcurrentUpdate:
            return False
        return bool(doc) and (doc.get("lease") or {}).get("owner") == owner

    async def _release(self, name: str, owner: str) -> None:
        def release(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None or (doc.get("lease") or {}).get("owner") != owner:
                return None
            doc["lease"] = None
            return doc

        try:
            await update_json(self._store, name, release)
        except (ConcurrentUpdate, ArchiveUnavailable):
            pass  # the lease expires on its own

    async def _remove(self, name: str, item_id: str, owner: str) -> None:
        now = time.time()

        def remove(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None:
                return None
            doc["items"] = [i for i in doc["items"] if i["id"] != item_id]
            if (doc.get("lease") or {}).get("owner") == owner:
                doc["lease"]["until"] = now + self._lease
            return doc

        await update_json(self._store, name, remove)

    async def _bump(self, name: str, item_id: str) -> None:
        def bump(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None:
                return None
            for item in doc["items"]:
                if item["id"] == item_id:
                    item["attempts"] = item.get("attempts", 0) + 1
            return doc

        await update_json(self._store, name, bump)

    async def _delete_if_empty(self, name: str) -> None:
        stored = await self._store.get_doc(name)
        if stored is None:
            return
        import json

        if json.loads(stored.data).get("items"):
            return
        try:
            await self._store.delete_doc(name, etag=stored.etag)
        except ConcurrentUpdate:
            pass

    # -- posting --------------------------------------------------------------------------------
    async def _relay(self, record: Record) -> None:
        if record.kind == "status":
            await self._status(record)
        else:
            await self._post(record)

    async def _post(self, record: Record) -> None:
        conversation = record.conversation or ""
        binding = await read_json(self._store, INBOX)
        if binding is None:
            raise RetryLater("no Teams channel is bound as the WhatsApp inbox yet (send `setup`)")
        activity = await self.render(record)
        wa_id = record.sender.id if record.sender else None
        thread, root = await self.ensure_thread(conversation, wa_id, binding, activity)
        if root is not None:
            activity_id = root
        else:
            activity_id = await self._make_sender(thread).post_reply(thread["thread_id"], activity)
        post = Record(
            conversation=conversation,
            platform="teams",
            direction="inbound",
            kind="message",
            type="relay",
            source_id=activity_id,
            sent_at=now_rfc3339(),
            captured_at="",
            sender=Party(thread.get("bot_id") or "bot", "wabridge", "teams"),
            recipients=(Party(thread["channel_id"], None, "teams"),),
            text=activity.get("text"),
            relates_to=record.id,
            raw={"thread_id": thread["thread_id"], "activity": activity},
        )
        await self._archive.put(post, event_key("teams", "relay", record.id))

    async def ensure_thread(
        self,
        conversation: str,
        wa_id: str | None,
        binding: dict[str, Any],
        first_post: dict[str, Any],
    ) -> tuple[dict[str, Any], str | None]:
        """The contact's thread; if there is none, start it with ``first_post``.

        Returns the thread document and, when this call started the thread, the root post's id.
        Starting is claimed first in the thread document (ETag), so that however many workers
        or instances try at once, one posts and the others wait for its thread; a claim whose
        holder died expires after ``THREAD_CLAIM_SECONDS``.
        """
        name = thread_doc(conversation)
        token = uuid.uuid4().hex
        now = time.time()

        def claim(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is not None and (doc.get("thread_id") or doc.get("claimed_until", 0) > now):
                return None
            return {
                "conversation": conversation,
                "wa_id": wa_id,
                "claim": token,
                "claimed_until": now + THREAD_CLAIM_SECONDS,
            }

        self._claims[name] = token
        try:
            doc = await update_json(self._store, name, claim)
            if doc and doc.get("thread_id"):
                return doc, None
            if not doc or doc.get("claim") != token:
                raise RetryLater(f"the thread of {conversation} is being started elsewhere")
            thread_id, root = await self._make_sender(binding).post_new_thread(
                binding["channel_id"], first_post
            )
        except BaseException:
            # Also when cancelled (e.g. at shutdown) after the claim was written but before we
            # saw it: give the claim up, so that another worker need not wait for it to expire.
            await asyncio.shield(self._drop_claim(name, token))
            self._claims.pop(name, None)
            raise
        self._claims.pop(name, None)
        thread = {
            "conversation": conversation,
            "wa_id": wa_id,
            "thread_id": thread_id,
            "root_activity_id": root,
            "channel_id": binding["channel_id"],
            "service_url": binding["service_url"],
            "tenant_id": binding.get("tenant_id"),
            "bot_id": binding.get("bot_id"),
            "created_at": now_rfc3339(),
            "created_by": self.instance,
        }
        await write_json(self._store, name, thread)
        await write_json(
            self._store,
            teams_thread_doc(thread_id),
            {"conversation": conversation, "thread_id": thread_id},
        )
        return thread, root

    async def _drop_claim(self, name: str, token: str) -> None:
        def drop(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None:
                # Our claim may still be on its way (a cancelled write can land later): a
                # released document in its place makes that conditional write fail.
                return {"claim": None, "claimed_until": 0}
            if doc.get("thread_id") or doc.get("claim") != token:
                return None
            return {**doc, "claim": None, "claimed_until": 0}

        try:
            await update_json(self._store, name, drop)
        except (ConcurrentUpdate, ArchiveUnavailable):
            pass  # the claim expires on its own

    async def render(self, record: Record) -> dict[str, Any]:
        media = []
        for attachment in record.attachments:
            if attachment.sha256:
                media.append(
                    (attachment, await self._links.link(attachment.sha256, attachment.filename))
                )
        return cards.inbound_post(record, media, _map_link(record.raw))

    async def _status(self, record: Record) -> None:
        wamid = record.source_id or record.relates_to or (record.raw or {}).get("id")
        sent = await read_json(self._store, sent_doc(wamid)) if wamid else None
        if sent is None:
            raise NotYet(wamid)
        status = record.status or "unknown"
        errors = (record.raw or {}).get("errors") or []
        sender = self._make_sender(sent)
        if status == "failed":
            codes = [e.get("code") for e in errors]
            if WINDOW_CLOSED in codes:
                await sender.post_reply(sent["thread_id"], cards.window_closed(self._templates()))
            else:
                first = errors[0] if errors else {}
                detail = (
                    (first.get("error_data") or {}).get("details")
                    or first.get("message")
                    or first.get("title")
                    or "WhatsApp did not deliver the message"
                )
                await sender.post_reply(
                    sent["thread_id"], cards.send_failed(detail, first.get("code"))
                )
        if cards.STATUS_RANK.get(status, -1) <= cards.STATUS_RANK.get(sent.get("status"), -1):
            return
        await sender.update(
            sent["thread_id"], sent["activity_id"], cards.status_card(status, to=sent.get("to", ""))
        )

        def mark(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None:
                return None
            if cards.STATUS_RANK.get(status, -1) <= cards.STATUS_RANK.get(doc.get("status"), -1):
                return None
            doc["status"] = status
            return doc

        await update_json(self._store, sent_doc(wamid), mark)

    async def _archive_failure(
        self, record_id: str, exc: Exception, conversation: str | None
    ) -> None:
        failure = Record(
            conversation=conversation,
            platform="teams",
            direction="internal",
            kind="error",
            type="relay_failed",
            source_id=None,
            sent_at=now_rfc3339(),
            captured_at="",
            sender=None,
            text=f"could not show this record in Teams: {exc}",
            relates_to=record_id,
            raw={"error": repr(exc)},
        )
        try:
            await self._archive.put(failure, event_key("teams", "relay-failed", record_id))
        except ArchiveUnavailable:
            log.error("could not archive the relay failure of %s", record_id)


def _unavailable(exc: Exception) -> bool:
    """Teams cannot be reached or is overloaded (retry without limit), as opposed to a refusal.

    Bot Connector errors surface as msrest exceptions: a request that never got an answer is a
    ``ClientRequestError``; an answer is an ``HttpOperationError`` with its response.
    """
    if isinstance(
        exc,
        RetryLater
        | aiohttp.ClientError
        | ArchiveUnavailable
        | TimeoutError
        | ClientRequestError
        | ConnectionError,
    ):
        return True
    if isinstance(exc, HttpOperationError):
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        return status is None or status >= 500 or status in (408, 429)
    return False


def _map_link(raw: Any) -> str | None:
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


async def open_thread_for_new_contact(
    relay: InboundRelay,
    conversation: str,
    wa_id: str,
    binding: dict[str, Any],
    *,
    started_by: str | None,
    template: Template,
    params: list[str],
) -> Any:
    """The thread of a contact an employee writes to first (``new``): reuse or start one.

    Raises :class:`RetryLater` while another instance is starting it."""
    from bot.relay.outbound import Thread

    text = (
        f"**+{wa_id}** — conversation started by {started_by or 'an employee'} "
        f"with the template `{template.name}`: {template.render(params)}"
    )
    thread, _root = await relay.ensure_thread(conversation, wa_id, binding, cards.message(text))
    return Thread(conversation, thread["wa_id"], thread["thread_id"], thread)
