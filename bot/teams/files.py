"""The files an employee attaches in Teams, downloaded (the ``TeamsFiles`` port).

A file shared from SharePoint/OneDrive comes with a pre-authorized download URL; an inline
image or a file in a personal chat is behind the Bot Connector's attachment URL, which needs
the bot's Bot Framework token. Downloads are bounded in size and time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bot.ports import AttachmentError, FetchedFile
from bridge.convert.teams import is_file_attachment

MAX_DOWNLOAD = 100 * 1024 * 1024
DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"


class TeamsFileFetcher:
    """Downloads an activity's file attachments, with the bot's token where one is needed."""

    def __init__(
        self, *, app_id: str, app_password: str, tenant_id: str = "", max_bytes: int = MAX_DOWNLOAD
    ) -> None:
        self._app_id = app_id
        self._app_password = app_password
        self._tenant_id = tenant_id
        self._max_bytes = max_bytes

    async def fetch(self, activity: dict[str, Any]) -> list[FetchedFile]:
        wanted = [a for a in activity.get("attachments") or () if is_file_attachment(a)]
        if not wanted:
            return []
        token = await self._bot_token()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            return [await self._fetch_one(session, item, token) for item in wanted]

    async def _bot_token(self) -> str | None:
        """The bot's Bot Framework token; None without an identity (dev mode)."""
        if not self._app_id or not self._app_password:
            return None
        from botframework.connector.auth import MicrosoftAppCredentials

        credentials = MicrosoftAppCredentials(
            self._app_id, self._app_password, channel_auth_tenant=self._tenant_id or None
        )
        return await asyncio.to_thread(credentials.get_access_token)

    async def _fetch_one(
        self, session: aiohttp.ClientSession, item: dict[str, Any], token: str | None
    ) -> FetchedFile:
        name = item.get("name")
        if item.get("contentType") == DOWNLOAD_INFO:
            url = (item.get("content") or {}).get("downloadUrl")
            headers: dict[str, str] = {}
        else:
            url = item.get("contentUrl")
            headers = {"Authorization": f"Bearer {token}"} if token else {}
        if not url:
            raise AttachmentError(f"the attachment {name or ''} has no download link")
        declared = item.get("contentType") or ""
        try:
            async with session.get(url, headers=headers) as resp:
                if resp.status != 200:
                    raise AttachmentError(
                        f"Teams refused the download of {name or 'an attachment'} "
                        f"(HTTP {resp.status})"
                    )
                if (resp.content_length or 0) > self._max_bytes:
                    raise AttachmentError(f"{name or 'the attachment'} is too large")
                data = await _read_capped(resp, name, self._max_bytes)
                served = resp.content_type
        except aiohttp.ClientError as exc:
            raise AttachmentError(
                f"the download of {name or 'an attachment'} failed: {exc}"
            ) from None
        mime = (
            declared
            if "/" in declared and not declared.startswith("application/vnd.microsoft")
            else served
        )
        if mime in (None, "", "image/*"):
            mime = served or "application/octet-stream"
        return FetchedFile(data, mime, name)


async def _read_capped(resp: aiohttp.ClientResponse, name: str | None, limit: int) -> bytes:
    """The body, refused as soon as it grows past ``limit`` (with or without a Content-Length)."""
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise AttachmentError(f"{name or 'the attachment'} is too large")
        chunks.append(chunk)
    return b"".join(chunks)
