"""Put Blob over the Blob service's REST API: the archive's write of a new record.

Every webhook delivery writes one small record blob before it is acknowledged. Through the SDK,
that write took about half of the service's CPU per delivery, some 1.2 ms (a client object
built per blob name, then a pipeline of some fifteen policies); this way it takes about 0.25 ms.
This writer sends the same documented request (``PUT`` with ``If-None-Match: *``, the record's blob
index tags and its ``Content-MD5``) straight over one aiohttp session, signed the way the
storage account expects: Shared Key, a SAS, or a Microsoft Entra token. Everything else the
archive does stays on the SDK (docs/reliability.md has the figures).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import re
import time
import uuid
from email.utils import formatdate
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from bridge.errors import ArchiveUnavailable

#: The Entra scope of Azure Storage.
STORAGE_SCOPE = "https://storage.azure.com/.default"
#: Statuses worth a retry: the request timed out, was throttled or met a passing server fault.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Answers that mean the blob exists already (Put Blob with ``If-None-Match: *``; a blob under
#: a legal hold or an immutability policy may be refused for that reason first).
EXISTS = frozenset(
    {
        (409, "BlobAlreadyExists"),
        (409, "BlobImmutableDueToLegalHold"),
        (409, "BlobImmutableDueToPolicy"),
        (412, "ConditionNotMet"),
    }
)
#: A token is renewed this many seconds before it expires.
TOKEN_MARGIN = 300


class RequestAuth(Protocol):
    """Makes a prepared request acceptable to the storage account."""

    async def apply(self, method: str, url: URL, headers: dict[str, str]) -> URL: ...


class SharedKeyAuth:
    """The account key: an HMAC-SHA256 of the request's canonical form (``Authorization:
    SharedKey``), as the Blob service documents it for version 2015-02-21 and later."""

    def __init__(self, account_name: str, account_key: str) -> None:
        self._account = account_name
        self._key = base64.b64decode(account_key)

    async def apply(self, method: str, url: URL, headers: dict[str, str]) -> URL:
        headers["Authorization"] = (
            f"SharedKey {self._account}:{self.signature(method, url, headers)}"
        )
        return url

    def signature(self, method: str, url: URL, headers: dict[str, str]) -> str:
        get = {k.lower(): v for k, v in headers.items()}.get
        length = get("content-length", "")
        lines = [
            method,
            get("content-encoding", ""),
            get("content-language", ""),
            "" if length == "0" else length,
            get("content-md5", ""),
            get("content-type", ""),
            "",  # Date: x-ms-date is sent instead
            get("if-modified-since", ""),
            get("if-match", ""),
            get("if-none-match", ""),
            get("if-unmodified-since", ""),
            get("range", ""),
        ]
        ms_headers = sorted(
            (k.lower(), " ".join(v.split()))
            for k, v in headers.items()
            if k.lower().startswith("x-ms-")
        )
        resource = f"/{self._account}{url.raw_path}"
        query = sorted((k.lower(), v) for k, v in url.query.items())
        text = "\n".join(lines) + "\n" + "".join(f"{k}:{v}\n" for k, v in ms_headers) + resource
        text += "".join(f"\n{k}:{v}" for k, v in query)
        digest = hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")


class SasAuth:
    """A shared access signature: its query string goes on every request."""

    def __init__(self, query: str) -> None:
        self._query = query.lstrip("?")

    async def apply(self, method: str, url: URL, headers: dict[str, str]) -> URL:
        return URL(f"{url}?{self._query}", encoded=True)


class BearerAuth:
    """A Microsoft Entra token from an ``azure-identity`` credential, renewed before it expires."""

    def __init__(self, credential: Any) -> None:
        self._credential = credential
        self._token: Any = None
        self._lock = asyncio.Lock()

    async def apply(self, method: str, url: URL, headers: dict[str, str]) -> URL:
        token = self._token
        if token is None or token.expires_on - time.time() < TOKEN_MARGIN:
            async with self._lock:
                token = self._token
                if token is None or token.expires_on - time.time() < TOKEN_MARGIN:
                    token = self._token = await self._credential.get_token(STORAGE_SCOPE)
        headers["Authorization"] = f"Bearer {token.token}"
        return url


def auth_for(container_url: str, credential: Any) -> RequestAuth | None:
    """The auth of an SDK container client (its public ``url`` and ``credential``), or None when
    the container is public (no credential, no SAS)."""
    query = urlsplit(container_url).query
    if credential is None:
        return SasAuth(query) if query else None
    if hasattr(credential, "get_token"):
        if not container_url.startswith("https://"):
            raise ValueError("a Microsoft Entra token is sent only over https://")
        return BearerAuth(credential)
    name, key = getattr(credential, "account_name", None), getattr(credential, "account_key", None)
    if name and key:
        return SharedKeyAuth(name, key)
    raise ValueError(f"unsupported storage credential {type(credential).__name__}")


class PutBlobWriter:
    """Creates block blobs that must not exist yet, in one container, with bounded retries."""

    def __init__(
        self,
        container_url: str,
        auth: RequestAuth | None,
        *,
        api_version: str,
        trust_env: bool = False,
        attempts: int = 3,
        initial_backoff: float = 0.5,
        connect_timeout: float = 4.0,
        read_timeout: float = 8.0,
    ) -> None:
        self._base = container_url.split("?", 1)[0].rstrip("/")
        self._auth = auth
        self._version = api_version
        self._trust_env = trust_env
        self._attempts = attempts
        self._backoff = initial_backoff
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    def _url(self, name: str) -> URL:
        return URL(f"{self._base}/{quote(name, safe='/~')}", encoded=True)

    async def create(
        self, name: str, data: bytes, *, content_type: str, tags: dict[str, str] | None = None
    ) -> bool:
        """Write ``data`` as blob ``name``: True when created, False when it existed already.

        Raises :class:`ArchiveUnavailable` when the storage account cannot be reached, refuses
        the request, or keeps failing after the retries.
        """
        headers = {
            "x-ms-blob-type": "BlockBlob",
            "x-ms-version": self._version,
            "x-ms-client-request-id": str(uuid.uuid4()),
            "Content-Type": content_type,
            "Content-Length": str(len(data)),
            "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode("ascii"),
            "If-None-Match": "*",
        }
        if tags:
            headers["x-ms-tags"] = "&".join(
                f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags.items()
            )
        url, failure = self._url(name), ""
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2))
            headers["x-ms-date"] = formatdate(usegmt=True)
            try:
                status, code = await self._put(url, headers, data)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                failure = _describe(exc)
                continue
            if status == 201:
                return True
            if (status, code) in EXISTS:
                return False  # also after a retry of a write whose answer was lost: it is ours
            failure = f"storage answered {status} {code}".rstrip()
            if status == 404 and code == "ContainerNotFound":
                raise ArchiveUnavailable(f"write {name}: the archive container does not exist")
            if status not in RETRY_STATUSES:
                break
        raise ArchiveUnavailable(f"write {name}: {failure}")

    async def _put(self, url: URL, headers: dict[str, str], data: bytes) -> tuple[int, str]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                trust_env=self._trust_env,
                skip_auto_headers=("User-Agent", "Content-Type"),
                headers={"User-Agent": "wabridge-archive"},
            )
        request_headers = dict(headers)
        if self._auth is not None:
            url = await self._auth.apply("PUT", url, request_headers)
        async with self._session.put(url, data=data, headers=request_headers) as response:
            await response.read()
            return response.status, response.headers.get("x-ms-error-code", "")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


_QUERY = re.compile(r"[?][^\s)\]'\"]*")


def _describe(exc: BaseException) -> str:
    """The error's type and first line, with any query string (a SAS) cut out of URLs in it."""
    text = _QUERY.sub("?…", str(exc).splitlines()[0][:200]) if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
