"""Shared parts of the fault tests: a Meta-like sender that retries, services, and counting.

:class:`MetaSender` behaves like Meta's webhook delivery: every delivery is sent until it gets a
2xx answer; a non-2xx answer or a refused connection is retried later (bounded, so that a lost
service fails the test instead of hanging it). The figures it keeps (sent, attempts, refusals)
are printed by the tests (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.loopback.polling import eventually
from bridge.archive import Archive
from bridge.store.azure_blob import AzureBlobStore
from tests.fakes.meta_graph import encode_payload, sign_body, text_delivery
from tests.support.processes import Service, clean_env, wabridge

APP_SECRET = "faults-app-secret-7c41e2"
VERIFY_TOKEN = "faults-verify-token-0b93"
ACCESS_TOKEN = "faults-access-token-55aa"
APP_PASSWORD = "faults-app-password-d00d"
PNID = "106540352242922"
#: A guard against a hang, not a timing assertion.
GUARD = 240


def wamid(n: int, run: str) -> str:
    """A wamid in Meta's shape: base64 with ``/``, ``+`` and ``=`` in it."""
    return f"wamid.HBgL{run}MTU1NTAx/{n:06d}+FQIAEhgU=="


def text_payload(n: int, run: str, contacts: int = 50) -> dict[str, Any]:
    wa_id = f"1555{n % contacts:07d}"
    return text_delivery(
        PNID,
        wa_id,
        f"message {n} of {run}",
        name=f"Contact {n % contacts}",
        wamid=wamid(n, run),
        timestamp=1764350000 + n,
    )


@dataclass
class Signed:
    """One delivery as Meta sends it: raw body and signature, and its expected source ids."""

    body: bytes
    signature: str
    source_ids: tuple[str, ...]

    @classmethod
    def of(cls, payload: dict[str, Any], source_ids: Sequence[str]) -> Signed:
        body = encode_payload(payload)
        return cls(body, sign_body(body, APP_SECRET), tuple(source_ids))


@dataclass
class MetaSender:
    """Delivers until acknowledged; picks a target per attempt with ``choose``."""

    concurrency: int = 24
    retry_delay: float = 0.3
    max_attempts: int = 400
    statuses: Counter = field(default_factory=Counter)
    attempts: int = 0
    acknowledged: int = 0
    gave_up: list[Signed] = field(default_factory=list)

    async def send_all(
        self,
        deliveries: Sequence[Signed],
        choose: Callable[[int], Sequence[str]],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Send every delivery; ``choose(attempt)`` gives the base URL(s) to post it to (more
        than one: the same delivery is posted to each, as when Meta retries against another
        instance while the first answer is still on its way)."""
        sem = asyncio.Semaphore(self.concurrency)
        connector = aiohttp.TCPConnector(limit=self.concurrency * 2, force_close=True)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def post(url: str, item: Signed) -> int:
                headers = {
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": item.signature,
                }
                try:
                    async with session.post(
                        f"{url}/api/whatsapp", data=item.body, headers=headers
                    ) as response:
                        await response.read()
                        return response.status
                except (aiohttp.ClientError, TimeoutError):
                    return 0  # connection refused / reset: the service is down

            async def deliver(item: Signed) -> None:
                for attempt in range(self.max_attempts):
                    async with sem:
                        self.attempts += 1
                        codes = await asyncio.gather(*(post(u, item) for u in choose(attempt)))
                    self.statuses.update(codes)
                    if any(200 <= c < 300 for c in codes):
                        self.acknowledged += 1
                        if progress:
                            progress(self.acknowledged)
                        return
                    await asyncio.sleep(self.retry_delay * (1 + random.random()))
                self.gave_up.append(item)

            await asyncio.gather(*(deliver(item) for item in deliveries))


def service_env(
    conn: str, container: str, graph_url: str, *, access_token: str = ACCESS_TOKEN, **extra: str
) -> dict[str, str]:
    """Configuration of a `wabridge serve` on Azurite with known secret values (the access
    token must be the Graph fake's when media is fetched)."""
    return clean_env(
        **{
            "AZURE_STORAGE_CONNECTION_STRING": conn,
            "ARCHIVE_CONTAINER": container,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "WHATSAPP_ACCESS_TOKEN": access_token,
            "WHATSAPP_PHONE_NUMBER_ID": PNID,
            "WHATSAPP_GRAPH_URL": graph_url,
            "MicrosoftAppId": "00000000-0000-0000-0000-000000000001",
            "MicrosoftAppPassword": APP_PASSWORD,
            "WABRIDGE_MEDIA_QUICK_SECONDS": "0.5",
            "WABRIDGE_MEDIA_RETRY_SECONDS": "0.1",
            "WABRIDGE_MEDIA_RETRY_CAP_SECONDS": "0.5",
            "WABRIDGE_MEDIA_POLL_SECONDS": "0.1",
            **extra,
        }
    )


async def start_service(cwd: Path, env: dict[str, str]) -> Service:
    service = Service(cwd, env)
    await asyncio.to_thread(service.start)
    return service


async def archived(conn: str, container: str) -> list[dict[str, Any]]:
    """Every record in the archive (read through the store, as `archive search` does)."""
    archive = Archive(AzureBlobStore.from_connection_string(conn, container))
    try:
        return [json.loads(data) async for _, data in archive.iter_records()]
    finally:
        await archive.close()


@dataclass
class Tally:
    """Events sent / archived / duplicated / lost, by source id."""

    sent: int
    archived: int
    duplicated: int
    lost: int

    @classmethod
    def of(cls, deliveries: Sequence[Signed], records: Sequence[dict[str, Any]]) -> Tally:
        expected = {sid for d in deliveries for sid in d.source_ids}
        counts = Counter(r["source_id"] for r in records if r.get("source_id") in expected)
        return cls(
            sent=len(expected),
            archived=len(counts),
            duplicated=sum(n - 1 for n in counts.values()),
            lost=len(expected - set(counts)),
        )

    def __str__(self) -> str:
        return (
            f"events sent {self.sent}, archived {self.archived}, "
            f"duplicated {self.duplicated}, lost {self.lost}"
        )


def verify(cwd: Path, conn: str, container: str) -> None:
    """`wabridge archive verify` on the archive must pass (exit 0)."""
    env = clean_env(AZURE_STORAGE_CONNECTION_STRING=conn, ARCHIVE_CONTAINER=container)
    done = wabridge("archive", "verify", cwd=cwd, env=env, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


#: A known traceback of the Teams relay: at shutdown its tasks can outlive the closed storage
#: transport. Remove the entry once the relay handles the case.
KNOWN_RELAY_TRACEBACKS = ("asyncio.run() shutdown",)


def tracebacks(*logs: Path) -> list[str]:
    """Log entries with a traceback (an unhandled or logged exception) in service logs, except
    the known relay ones above."""
    found = []
    for path in logs:
        text = path.read_text(errors="replace") if path.exists() else ""
        for entry in re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text):
            if "Traceback (most recent call last)" not in entry:
                continue
            if any(known in entry.split("\n", 1)[0] for known in KNOWN_RELAY_TRACEBACKS):
                continue
            found.append(entry[:2000])
    return found


async def poll_until(condition: Callable[[], Any], interval: float = 0.2) -> None:
    """Wait until ``condition()`` (a plain or async callable) is true (the caller bounds it)."""
    await eventually(condition, interval=interval)
