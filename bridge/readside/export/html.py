"""HTML export: a readable, printable transcript per conversation.

Both sides in the order they happened (inbound on the left, the firm's side on the right), media
shown (images inline, audio/video playable, documents linked), delivery statuses, reactions,
edits and deletions as small marks, policy findings and events highlighted. No script, no
external resource: the files open offline in any browser and print as they look.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from bridge.readside.export.media import MEDIA_DIR, MediaCopier
from bridge.readside.export.naming import portable_name

CONVERSATIONS_DIR = "conversations"

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
  background:#efeae2;color:#111}
header{background:#075e54;color:#fff;padding:12px 20px}
header h1{font-size:18px;margin:0}
header p{margin:2px 0 0;font-size:12px;opacity:.85}
main{max-width:860px;margin:0 auto;padding:16px}
.rec{margin:6px 0;display:flex;flex-direction:column}
.rec.inbound{align-items:flex-start}
.rec.outbound{align-items:flex-end}
.rec.internal,.rec.mark{align-items:center}
.bubble{max-width:70%;padding:6px 10px;border-radius:8px;box-shadow:0 1px .5px rgba(0,0,0,.13);
  background:#fff;white-space:pre-wrap;word-wrap:break-word}
.outbound .bubble{background:#d9fdd3}
.who{font-size:12px;font-weight:600;color:#075e54}
.meta{font-size:11px;color:#667781;margin-top:2px}
.mark .note{font-size:12px;color:#54656f;background:#fff8;border-radius:6px;padding:2px 8px}
.policy .note,.flag{background:#fff3cd;color:#664d03;border:1px solid #ffda6a}
.error .note{background:#f8d7da;color:#842029;border:1px solid #f5c2c7}
.flag{display:inline-block;font-size:11px;border-radius:4px;padding:1px 5px;margin-top:3px}
img.media{max-width:320px;max-height:320px;display:block;border-radius:6px;margin:4px 0}
.missing{font-style:italic;color:#842029}
nav a{display:block;padding:4px 0}
@media print{body{background:#fff}header{background:#fff;color:#000;border-bottom:2px solid #000}
.bubble{box-shadow:none;border:1px solid #999}.rec{break-inside:avoid}}
"""


def _page(title: str, subtitle: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<main>\n{body}\n</main></body></html>\n"
    )


def _who(party: dict[str, Any] | None) -> str:
    if not party:
        return "unknown"
    name, ident = party.get("name"), party.get("upn") or party.get("id")
    return f"{name} ({ident})" if name and ident and name != ident else str(name or ident)


def _media_html(att: dict[str, Any], path: Path | None) -> str:
    label = html.escape(att.get("filename") or att.get("mime_type") or "attachment")
    if path is None:
        return f'<div class="missing">[media not in the archive: {label}]</div>'
    src = f"../{MEDIA_DIR}/{html.escape(path.name)}"
    mime = att.get("mime_type") or ""
    if mime.startswith("image/"):
        return f'<img class="media" src="{src}" alt="{label}">'
    if mime.startswith("audio/"):
        return f'<audio controls src="{src}"></audio><div>{label}</div>'
    if mime.startswith("video/"):
        return f'<video controls class="media" src="{src}"></video>'
    return f'<div>Attachment: <a href="{src}" download="{label}">{label}</a></div>'


def render_record(
    doc: dict[str, Any],
    media: list[tuple[dict[str, Any], Path | None]],
    earlier: dict[str, str] | None = None,
) -> str:
    """One record as an HTML fragment (pure); ``earlier`` names messages by id and source id,
    so a status or reaction can say which message it is about."""
    kind, direction = doc.get("kind"), doc.get("direction")
    attrs = (
        f'data-record-id="{html.escape(doc.get("id") or "")}" '
        f'data-direction="{html.escape(direction or "")}" data-kind="{html.escape(kind or "")}"'
    )
    when = html.escape((doc.get("sent_at") or "").replace("T", " ")[:19] + " UTC")
    text = html.escape(doc.get("text") or "")
    flags = "".join(
        f'<div class="flag">⚑ {html.escape(str(f.get("action")))}: '
        f"{html.escape(str(f.get('rule')))}"
        f" — {html.escape(str(f.get('reason')))}</div>"
        for f in doc.get("flags") or []
    )
    if kind == "message":
        platform = "Teams" if doc.get("platform") == "teams" else "WhatsApp"
        items = "".join(_media_html(att, path) for att, path in media)
        return (
            f'<div class="rec {html.escape(direction or "")}" {attrs}><div class="bubble">'
            f'<div class="who">{html.escape(_who(doc.get("sender")))}</div>{items}'
            f'<div class="text">{text}</div>{flags}'
            f'<div class="meta">{when} · {platform} · {html.escape(doc.get("type") or "")}</div>'
            "</div></div>"
        )
    if kind == "status":
        note = f"✓ {html.escape(doc.get('status') or '')} · {when}"
        about = doc.get("relates_to")
        if about:
            note += f" · for {html.escape((earlier or {}).get(about) or about)}"
    elif kind == "reaction":
        who = html.escape(_who(doc.get("sender")))
        note = f"{text or '(reaction removed)'} reaction by {who} · {when}"
    elif kind in ("edit", "delete"):
        what = "edited to: " + text if kind == "edit" else "deleted a message"
        note = f"✎ {html.escape(_who(doc.get('sender')))} {what} · {when}"
    else:
        note = f"{html.escape(kind or 'event')}: {text} · {when}"
    return (
        f'<div class="rec mark {html.escape(kind or "")}" {attrs}>'
        f'<div class="note">{note}</div>{flags}</div>'
    )


class HtmlWriter:
    """Appends each record to its conversation's transcript; writes an index at the end."""

    def __init__(self, out: Path, media: MediaCopier) -> None:
        self._out = out
        self._media = media
        self._dir = out / CONVERSATIONS_DIR
        self._dir.mkdir(parents=True, exist_ok=True)
        self._parts = out / ".parts"
        self._parts.mkdir(exist_ok=True)
        self._counts: dict[str, int] = {}
        self._span: dict[str, tuple[str, str]] = {}
        self._earlier: dict[str, str] = {}

    async def add(self, doc: dict[str, Any], data: bytes) -> None:
        conv = doc.get("conversation") or "internal"
        media = []
        for att in doc.get("attachments") or []:
            media.append((att, await self._media.fetch(att.get("sha256"), doc["id"])))
        part = self._parts / (portable_name(conv) + ".part")
        with part.open("a", encoding="utf-8") as fh:
            fh.write(render_record(doc, media, self._earlier) + "\n")
        if doc.get("kind") == "message":
            text = " ".join((doc.get("text") or doc.get("type") or "").split())
            if len(self._earlier) > 200_000:  # bounded memory on huge exports
                self._earlier.clear()
            label = f"message “{text[:40]}{'…' if len(text) > 40 else ''}”"
            for key in (doc.get("id"), doc.get("source_id")):
                if key:
                    self._earlier[key] = label
        self._counts[conv] = self._counts.get(conv, 0) + 1
        first, _ = self._span.get(conv, (doc.get("sent_at") or "", ""))
        self._span[conv] = (first, doc.get("sent_at") or "")

    async def finish(self) -> dict[str, Any]:
        links = []
        for conv in sorted(self._counts):
            name = portable_name(conv)
            body = (self._parts / (name + ".part")).read_text(encoding="utf-8")
            first, last = self._span[conv]
            title = "Firm-internal events" if conv == "internal" else f"Conversation {conv}"
            subtitle = f"{self._counts[conv]} record(s), {first} – {last}"
            (self._dir / f"{name}.html").write_text(_page(title, subtitle, body), encoding="utf-8")
            (self._parts / (name + ".part")).unlink()
            links.append(
                f'<a href="{CONVERSATIONS_DIR}/{html.escape(name)}.html">'
                f'{html.escape(title)}</a> <span class="meta">{html.escape(subtitle)}</span>'
            )
        self._parts.rmdir()
        (self._out / "index.html").write_text(
            _page(
                "wabridge export",
                f"{len(links)} transcript(s)",
                "<nav>" + "\n".join(links) + "</nav>",
            ),
            encoding="utf-8",
        )
        return {"transcripts": len(links)}
