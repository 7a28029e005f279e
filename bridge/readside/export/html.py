"""HTML export: a readable, printable transcript per conversation, for a reviewer.

Each event once, in the order it happened (the contact on the left, the firm's side on the
right): the bot's Teams post of an inbound message and the Cloud API send of an employee's reply
are folded into the message they carry (:mod:`bridge.readside.export.fold`). Statuses, edits,
deletions, reactions, policy decisions and failures are marked on the message they concern; a
failed send is drawn as a failure, never as a tick. Times are shown in the chosen zone with their
offset. A contact's text is shown literally (HTML escaped, Markdown not interpreted). Media shown
(images inline, audio/video playable, documents linked). No script, no external resource: the
files open offline in any browser and print as they look.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from bridge.readside.export.context import ExportContext
from bridge.readside.export.fold import Entry
from bridge.readside.export.html_style import CSS
from bridge.readside.export.media import MEDIA_DIR
from bridge.readside.export.naming import portable_name
from bridge.readside.export.parties import BUSINESS, CONTACT, EMPLOYEE, Participant, Roster

CONVERSATIONS_DIR = "conversations"
_NOUN = {"reaction": "reaction", "edit": "edit", "delete": "deletion", "status": "status"}
INTERNAL_TITLE = "Firm-internal events"
_e = html.escape


def page(title: str, subtitle: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p>{_e(subtitle)}</p></header>"
        f"<main>\n{body}\n</main></body></html>\n"
    )


def conversation_title(roster: Roster, entries: list[Entry]) -> str:
    if roster.conversation is None:
        return INTERNAL_TITLE
    subject = next((e.doc["group"]["subject"] for e in entries if e.doc.get("group")), None)
    if roster.group:
        return f"WhatsApp group “{subject or 'unnamed'}”"
    contacts = " / ".join(p.label for p in roster.contacts) or "unknown contact"
    business = roster.business.label if roster.business else "the firm"
    return f"{contacts} ↔ {business}"


class Transcript:
    """Renders the entries of one conversation (pure apart from the media paths given)."""

    def __init__(self, ctx: ExportContext, roster: Roster, media: dict[str, Path | None]) -> None:
        self.ctx = ctx
        self.zone = ctx.zone
        self.roster = roster
        self.media = media
        self._day = ""

    # -- pieces ---------------------------------------------------------------------------------
    def who(self, doc: dict[str, Any]) -> str:
        person = self.roster.sender(doc)
        if person is None:
            party = doc.get("sender") or {}
            return _e(party.get("name") or party.get("id") or "unknown")
        via = " · via Teams" if person.role == EMPLOYEE else ""
        return _e(person.label) + via

    def when(self, doc: dict[str, Any]) -> str:
        return _e(self.zone.show(doc["sent_at"]))

    def clock(self, doc: dict[str, Any]) -> str:
        """The time of a mark: the time of day when on the day of its message, else in full."""
        if self.zone.day(doc["sent_at"]) == self._day:
            return _e(self.zone.clock(doc["sent_at"]))
        return self.when(doc)

    def media_html(self, att: dict[str, Any]) -> str:
        label = _e(att.get("filename") or att.get("mime_type") or "attachment")
        path = self.media.get(att.get("sha256") or "")
        if path is None:
            return f'<div class="missing">[media not in the archive: {label}]</div>'
        src = f"../{MEDIA_DIR}/{_e(path.name)}"
        mime = att.get("mime_type") or ""
        if mime.startswith("image/"):
            return f'<img class="media" src="{src}" alt="{label}">'
        if mime.startswith("audio/"):
            return f'<audio controls src="{src}"></audio><div>{label}</div>'
        if mime.startswith("video/"):
            return f'<video controls class="media" src="{src}"></video>'
        return f'<div>Attachment: <a href="{src}" download="{label}">{label}</a></div>'

    def flags(self, doc: dict[str, Any]) -> str:
        return "".join(
            f'<div class="flag">⚑ {_e(f["action"])}: {_e(f["rule"])} — {_e(f["reason"])}</div>'
            for f in doc["flags"]
        )

    def quote(self, entry: Entry) -> str:
        target = entry.reply_to
        if target is not None:
            text = " ".join((target.text or target.doc.get("type") or "").split())
            text = text[:80] + ("…" if len(text) > 80 else "")
            return (
                f'<a class="quote" href="#e-{_e(target.id)}">↩ reply to {self.who(target.doc)}: '
                f"“{_e(text)}”</a>"
            )
        if entry.doc.get("reply_to"):
            return (
                '<div class="quote">↩ reply to a message not in this export '
                f"({_e(entry.doc['reply_to'])})</div>"
            )
        return ""

    def delivery(self, entry: Entry) -> str:
        state, statuses = entry.delivery()
        parts = []
        for status in statuses:
            value = status.get("status") or "?"
            if value == "failed":
                continue
            mark = "✓" if value == "sent" else "✓✓"
            by = ""
            if self.roster.group:  # in a group each member reports: say who
                by = " by " + ", ".join(_e(p.display) for p in self.roster.recipients(status))
            parts.append(
                f'<span class="st {_e(value)}">{mark} {_e(value)}{by} {self.clock(status)}</span>'
            )
        if entry.sends and not any(s.get("status") == "sent" for s in statuses):
            parts.insert(0, f'<span class="st sent">✓ sent {self.clock(entry.sends[0])}</span>')
        for failure in entry.failures + [s for s in statuses if s.get("status") == "failed"]:
            reason = failure.get("text") or failure.get("type") or "no reason given"
            label = (
                "not shown in Teams" if failure.get("type") == "relay_failed" else "not delivered"
            )
            parts.append(
                f'<span class="st failed">✗ {label} ({self.clock(failure)}): {_e(reason)}</span>'
            )
        for relay in entry.relays:
            about = entry.about(relay)
            what = "" if about is None or about is entry.doc else _NOUN.get(about["kind"], "")
            parts.append(
                f'<span class="st relay">{what + " " if what else ""}shown in Teams '
                f"{self.clock(relay)}</span>"
            )
        return (
            "".join(parts)
            and f'<div class="delivery" data-delivery="{_e(state or "")}">{"".join(parts)}</div>'
        )

    def changes(self, entry: Entry) -> str:
        out = []
        for edit, previous, _new in entry.edit_history():
            where = (
                " in Teams (the WhatsApp copy already sent is unchanged)"
                if edit["platform"] == "teams"
                else ""
            )
            out.append(
                f'<div class="edit">✎ edited{where} by {self.who(edit)} at {self.when(edit)}; '
                f"before: “{_e(previous or '')}”</div>"
            )
        for delete in entry.deletes:
            what = "in Teams" if delete["platform"] == "teams" else "for everyone on WhatsApp"
            out.append(
                f'<div class="deleted">🗑 deleted {what} by {self.who(delete)} at '
                f"{self.when(delete)} (the text above is what was sent)</div>"
            )
        for policy in entry.policies:
            out.append(
                f'<div class="policy-mark">⛔ {_e(policy.get("type") or "policy")}: '
                f"{_e(policy.get('text') or '')} · {self.when(policy)}</div>"
            )
        return "".join(out)

    def reactions(self, entry: Entry) -> str:
        chips = []
        for value, records in entry.reaction_state():
            names = ", ".join(self.who(r) + " " + self.clock(r) for r in records)
            chips.append(f'<span class="reaction">{_e(value)} {names}</span>')
        removed = [r for r in entry.reactions if not r.get("text")]
        for record in removed:
            chips.append(
                f'<span class="reaction removed">reaction removed by {self.who(record)} '
                f"{self.clock(record)}</span>"
            )
        return f'<div class="reactions">{"".join(chips)}</div>' if chips else ""

    # -- entries --------------------------------------------------------------------------------
    def entry(self, entry: Entry) -> str:
        doc = entry.doc
        self._day = self.zone.day(doc["sent_at"])
        records = " ".join(r["id"] for r in entry.records)
        state, _ = entry.delivery()
        attrs = (
            f'id="e-{_e(entry.id)}" data-record-id="{_e(entry.id)}" data-records="{_e(records)}" '
            f'data-direction="{_e(doc["direction"])}" data-kind="{_e(doc["kind"])}" '
            f'data-delivery="{_e(state or "")}" data-edited="{len(entry.edits)}" '
            f'data-deleted="{"yes" if entry.deletes else "no"}" title="records {_e(records)}"'
        )
        if entry.is_message:
            side = self._side(entry)
            deleted = " deleted-msg" if entry.deletes else ""
            platform = "Teams → WhatsApp" if doc["platform"] == "teams" else "WhatsApp"
            if doc["platform"] == "teams" and not entry.sends and doc["direction"] == "outbound":
                platform = (
                    "Teams → WhatsApp (not sent)"
                    if entry.failures
                    else "Teams (no WhatsApp send in this export)"
                )
            return (
                f'<div class="rec {side}" {attrs}><div class="bubble{deleted}">'
                f'<div class="who">{self.who(doc)}</div>{self.quote(entry)}'
                + "".join(self.media_html(a) for a in entry.attachments)
                + f'<div class="text">{_e(entry.text or "")}</div>{self.flags(doc)}'
                + self.changes(entry)
                + self.reactions(entry)
                + f'<div class="meta">{self.when(doc)} · {_e(platform)} · {_e(doc.get("type") or "")}'
                + ("" if not doc.get("imported") else " · imported history")
                + f"</div>{self.delivery(entry)}</div></div>"
            )
        note = self.note(entry)
        kind = entry.orphan or doc["kind"]
        return (
            f'<div class="rec mark {_e(kind)}" {attrs}><div class="note">{note}</div>'
            f"{self.flags(doc)}{self.changes(entry) if entry.orphan is None else ''}</div>"
        )

    def _side(self, entry: Entry) -> str:
        person = self.roster.sender(entry.doc)
        if person is not None and person.role in (BUSINESS, EMPLOYEE):
            return "outbound"
        return "inbound" if entry.doc["direction"] == "inbound" else "outbound"

    def note(self, entry: Entry) -> str:
        doc = entry.doc
        icon = {"statuses": "✓✓", "reactions": "☺", "edits": "✎", "deletes": "🗑"}.get(
            entry.orphan or "", "📞" if doc["kind"] == "call" else ""
        )
        if entry.orphan == "statuses" and doc.get("status") in ("failed", "sent"):
            icon = '<span class="st failed">✗</span>' if doc["status"] == "failed" else "✓"
        who = f" · {self.who(doc)}" if doc.get("sender") else ""
        return f"{icon} {_e(entry.summary())}{who} · {self.when(doc)}".strip()

    def participants(self) -> str:
        rows = []
        for person in self.roster.participants:
            if person.role not in (BUSINESS, CONTACT, EMPLOYEE):
                continue
            ids = "; ".join(f"{k}: {v}" for k, v in person.identity_lines() if k != "role")
            rows.append(
                f"<tr><td>{_e(person.role)}</td><td>{_e(person.display)}</td>"
                f"<td>{_e(ids)}</td></tr>"
            )
        if not rows:
            return ""
        return (
            '<table class="people"><caption>Participants</caption>'
            "<tr><th>role</th><th>name</th><th>identities</th></tr>" + "".join(rows) + "</table>"
        )

    def body(self, entries: list[Entry]) -> str:
        out = [self.participants()]
        day = None
        for entry in entries:
            this_day = self.zone.day(entry.doc["sent_at"])
            if this_day != day:
                day = this_day
                moment = self.zone.at(entry.doc["sent_at"])
                heading = moment.strftime("%A %-d %B %Y") if moment else this_day
                out.append(f'<h2 class="day">{_e(heading)}</h2>')
            out.append(self.ctx.guard(entry, self.entry, self.fallback))
        return "\n".join(out)

    def fallback(self, entry: Entry) -> str:
        ids = " ".join(r["id"] for r in entry.records)
        return (
            f'<div class="rec mark error" data-record-id="{_e(entry.id)}" data-records="{_e(ids)}">'
            f'<div class="note">⚠ record {_e(entry.id)} could not be shown here; its stored form '
            f"is in the export under unrendered/</div></div>"
        )


class HtmlWriter:
    """One transcript per conversation under ``conversations/``, and an ``index.html``."""

    def __init__(self, ctx: ExportContext) -> None:
        self.ctx = ctx
        self._dir = ctx.out / CONVERSATIONS_DIR
        self._dir.mkdir(parents=True, exist_ok=True)
        self._links: list[str] = []

    async def conversation(self, roster: Roster, entries: list[Entry]) -> None:
        media: dict[str, Path | None] = {}
        for entry in entries:
            for att in entry.attachments:
                path = await self.ctx.media.attachment(att, entry.id)
                if att.get("sha256"):
                    media[att["sha256"]] = path
        transcript = Transcript(self.ctx, roster, media)
        title = conversation_title(roster, entries)
        records = sum(len(e.records) for e in entries)
        first, last = entries[0].doc["sent_at"], entries[-1].doc["sent_at"]
        span = f"{self.ctx.zone.show(first)} – {self.ctx.zone.show(last)}"
        where = roster.conversation or "records with no conversation"
        subtitle = (
            f"{where} · {len(entries)} event(s) from {records} record(s) · {span} · "
            f"times in {self.ctx.zone.name}"
        )
        name = portable_name(roster.conversation or "internal")
        target = self._dir / f"{name}.html"
        target.write_text(page(title, subtitle, transcript.body(entries)), encoding="utf-8")
        self._links.append(
            f'<a href="{CONVERSATIONS_DIR}/{_e(name)}.html">{_e(title)}</a> '
            f'<span class="meta">{_e(subtitle)}</span>'
        )

    async def finish(self) -> dict[str, Any]:
        (self.ctx.out / "index.html").write_text(
            page(
                "wabridge export",
                f"{len(self._links)} transcript(s) · times in {self.ctx.zone.name}",
                "<nav>" + "\n".join(self._links) + "</nav>",
            ),
            encoding="utf-8",
        )
        return {"transcripts": len(self._links)}


__all__ = ["HtmlWriter", "Transcript", "page", "conversation_title", "Participant"]
