"""The WhatsApp Business Cloud API client: sending as the business number, and media download.

A small adapter of ours over aiohttp implementing :class:`bot.ports.WhatsAppSender` and
:class:`bot.ports.MediaFetcher`. Every
request has a bounded timeout; Meta's error answers become :class:`WhatsAppSendError` with
Meta's own code and message (131047 outside the 24-hour window, 130429 rate limited, ...).
Media downloads are streamed: a 100 MB document is never held in memory whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from bot.ports import MediaInfo, SendResult, WhatsAppSendError

log = logging.getLogger("wabridge.whatsapp")

#: Sends and metadata look-ups: a slow Graph API must not hold a webhook or a relay forever.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=20, connect=5, sock_read=15)
#: Media downloads have no total bound (100 MB may take a while) but must keep flowing.
DEFAULT_DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5, sock_read=30)
CHUNK_SIZE = 256 * 1024

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")


class CloudApiClient:
    """Talks to the Graph API at ``graph_url`` (``WHATSAPP_GRAPH_URL``) as one business number.

    Owns its :class:`aiohttp.ClientSession` unless one is given; call :meth:`close` when done.
    """

    def __init__(
        self,
        *,
        graph_url: str,
        access_token: str,
        phone_number_id: str,
        session: aiohttp.ClientSession | None = None,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        download_timeout: aiohttp.ClientTimeout = DEFAULT_DOWNLOAD_TIMEOUT,
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        self.phone_number_id = phone_number_id
        self._token = access_token
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._download_timeout = download_timeout

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> CloudApiClient:
        """Build from :class:`bot.settings.Settings` (graph URL, token, phone number id)."""
        return cls(
            graph_url=settings.whatsapp_graph_url,
            access_token=settings.whatsapp_access_token,
            phone_number_id=settings.whatsapp_phone_number_id,
            **kwargs,
        )

    def __repr__(self) -> str:
        return (
            f"CloudApiClient(graph_url={self.graph_url!r}, "
            f"phone_number_id={self.phone_number_id!r})"
        )

    async def __aenter__(self) -> CloudApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    # -- sending ----------------------------------------------------------------------------
    async def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> SendResult:
        """Send a text message (``reply_to``: the wamid it answers, shown as a quote)."""
        body: dict[str, Any] = {"type": "text", "text": {"body": text, "preview_url": False}}
        return await self._send(to, body, reply_to)

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
        """Upload ``data`` to ``/{phone-number-id}/media``, then send it by its new media id."""
        if media_type not in MEDIA_TYPES:
            raise ValueError(f"media_type must be one of {MEDIA_TYPES}, not {media_type!r}")
        media_id = await self.upload_media(data, mime_type=mime_type, filename=filename)
        return await self.send_media_id(
            to, media_type=media_type, media_id=media_id, filename=filename, caption=caption
        )

    async def send_media_id(
        self,
        to: str,
        *,
        media_type: str,
        media_id: str,
        filename: str | None = None,
        caption: str | None = None,
    ) -> SendResult:
        """Send media already uploaded (or received) by its media id."""
        media: dict[str, Any] = {"id": media_id}
        if caption and media_type in ("image", "video", "document"):
            media["caption"] = caption
        if filename and media_type == "document":
            media["filename"] = filename
        return await self._send(to, {"type": media_type, media_type: media}, None)

    async def send_template(
        self,
        to: str,
        name: str,
        *,
        language: str = "en_US",
        params: Sequence[str] = (),
    ) -> SendResult:
        """Send an approved template; ``params`` fill the body's ``{{1}}``, ``{{2}}``, ..."""
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if params:
            template["components"] = [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": str(p)} for p in params],
                }
            ]
        return await self._send(to, {"type": "template", "template": template}, None)

    async def mark_read(self, wamid: str) -> None:
        """Mark an inbound message as read (blue ticks for the contact)."""
        await self._request_json(
            "POST",
            f"{self.graph_url}/{self.phone_number_id}/messages",
            json_body={"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
        )

    async def upload_media(
        self, data: bytes, *, mime_type: str, filename: str | None = None
    ) -> str:
        """Upload bytes for sending; returns the media id."""
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", data, filename=filename or "file", content_type=mime_type)
        answer = await self._request_json(
            "POST", f"{self.graph_url}/{self.phone_number_id}/media", data=form
        )
        media_id = answer.get("id")
        if not media_id:
            raise WhatsAppSendError(None, "media upload answered without an id", answer)
        return str(media_id)

    async def _send(self, to: str, body: dict[str, Any], reply_to: str | None) -> SendResult:
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            **body,
        }
        if reply_to:
            payload["context"] = {"message_id": reply_to}
        answer = await self._request_json(
            "POST", f"{self.graph_url}/{self.phone_number_id}/messages", json_body=payload
        )
        messages = answer.get("messages") or []
        if not messages or not messages[0].get("id"):
            raise WhatsAppSendError(None, "send answered without a message id", answer)
        contacts = answer.get("contacts") or []
        wa_id = (contacts[0].get("wa_id") if contacts else None) or to
        return SendResult(wamid=str(messages[0]["id"]), to=str(wa_id), raw=answer)

    # -- media download ---------------------------------------------------------------------
    async def media_info(self, media_id: str) -> MediaInfo:
        """Resolve a media id to its short-lived download URL (``GET /{media-id}``)."""
        answer = await self._request_json("GET", f"{self.graph_url}/{media_id}")
        url = answer.get("url")
        if not url:
            raise WhatsAppSendError(None, f"media {media_id} answered without a url", answer)
        size = answer.get("file_size")
        try:
            size = int(size) if size is not None else None
        except (TypeError, ValueError):
            size = None
        return MediaInfo(
            media_id=str(answer.get("id") or media_id),
            url=str(url),
            mime_type=answer.get("mime_type"),
            sha256=answer.get("sha256"),
            file_size=size,
            raw=answer,
        )

    async def stream_media(self, url: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The bytes behind a media URL, in chunks, fetched with the bearer token.

        Raises :class:`WhatsAppSendError` (``http_status`` set) if the download is refused.
        """
        session = self._ensure_session()
        try:
            async with session.get(
                url, headers=self._auth_headers(), timeout=self._download_timeout
            ) as response:
                if response.status >= 400:
                    raise await _api_error(response)
                async for chunk in response.content.iter_chunked(chunk_size):
                    yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise WhatsAppSendError(
                None, f"media download failed: {_describe(exc)}", unreachable=True
            ) from exc

    async def download_media(self, media_id: str) -> tuple[MediaInfo, AsyncIterator[bytes]]:
        """Resolve ``media_id`` and open its byte stream: ``(info, chunks)``."""
        info = await self.media_info(media_id)
        return info, self.stream_media(info.url)

    # -- plumbing ---------------------------------------------------------------------------
    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def _request_json(
        self, method: str, url: str, *, json_body: Any = None, data: Any = None
    ) -> dict[str, Any]:
        session = self._ensure_session()
        try:
            async with session.request(
                method,
                url,
                json=json_body,
                data=data,
                headers=self._auth_headers(),
                timeout=self._timeout,
            ) as response:
                if response.status >= 400:
                    raise await _api_error(response)
                text = await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise WhatsAppSendError(
                None, f"Graph API not reachable: {_describe(exc)}", unreachable=True
            ) from exc
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            raise WhatsAppSendError(None, "Graph API answered with something not JSON") from None
        return answer if isinstance(answer, dict) else {"data": answer}


async def _api_error(response: aiohttp.ClientResponse) -> WhatsAppSendError:
    """Meta's ``{"error": {"code", "message", "error_data": {"details"}}}`` as our error."""
    try:
        text = await response.text()
        body = json.loads(text) if text else {}
    except (ValueError, aiohttp.ClientError, UnicodeDecodeError):
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return WhatsAppSendError(
            None,
            f"HTTP {response.status}",
            body if isinstance(body, dict) else {},
            http_status=response.status,
        )
    code = error.get("code")
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    message = str(error.get("message") or error.get("error_user_msg") or f"HTTP {response.status}")
    details = (
        (error.get("error_data") or {}).get("details")
        if isinstance(error.get("error_data"), dict)
        else None
    )
    if details and details not in message:
        message = f"{message} ({details})"
    return WhatsAppSendError(code, message, body, http_status=response.status)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"
