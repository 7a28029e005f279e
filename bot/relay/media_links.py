"""Signed download links for archived media, which the bot puts into its Teams posts.

A Teams post shows an inbound image inline and other media as a file card; both point at the
service's ``GET /api/media/{sha256}`` (served by the Teams transport), which streams the bytes
from the archive. A link carries its expiry and an HMAC over the hash and expiry, keyed by a
random secret kept in ``state/relay/media-key.json`` (shared by every instance, created on
first use), so a link cannot be forged or pointed at other media.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from urllib.parse import quote

from bot.relay.state import MEDIA_KEY, MediaKey
from bridge.state import DocStore
from bridge.store.base import ArchiveStore

LINK_LIFETIME = 180 * 24 * 3600


class MediaLinks:
    """Makes and checks signed media links for one archive (a :class:`bot.ports.SignedMedia`)."""

    def __init__(self, store: ArchiveStore, public_url: str) -> None:
        self._docs = DocStore(store, MediaKey)
        self._public_url = public_url.rstrip("/")
        self._key: bytes | None = None

    async def _secret(self) -> bytes:
        if self._key is None:
            doc = await self._docs.get(MEDIA_KEY)
            if doc is None:
                await self._docs.create(
                    MEDIA_KEY, MediaKey(base64.b64encode(os.urandom(32)).decode())
                )
                doc = await self._docs.get(MEDIA_KEY)
            self._key = base64.b64decode(doc.key)  # type: ignore[union-attr]
        return self._key

    async def link(
        self, sha256_hex: str, filename: str | None = None, *, now: float | None = None
    ) -> str:
        expires = int((now or time.time()) + LINK_LIFETIME)
        sig = _sign(await self._secret(), sha256_hex, expires)
        url = f"{self._public_url}/api/media/{sha256_hex}?exp={expires}&sig={sig}"
        if filename:
            url += "&name=" + quote(filename, safe="")
        return url

    async def check(self, sha256_hex: str, expires: str, sig: str) -> bool:
        try:
            exp = int(expires)
        except ValueError:
            return False
        if exp < time.time():
            return False
        expected = _sign(await self._secret(), sha256_hex, exp)
        return hmac.compare_digest(expected, sig)


def _sign(key: bytes, sha256_hex: str, expires: int) -> str:
    mac = hmac.new(key, f"{sha256_hex}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")
