"""Running the service against the loopback fakes, for the relay tests."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import SERVICE, create_app
from bot.loopback.polling import eventually
from bot.loopback.server import LoopbackServer
from bot.settings import Settings
from bridge.archive import Archive
from bridge.governance.registry import Member, UserRegistry
from bridge.record import Record
from tests.fakes.bot_connector import FakeBotConnector, TeamsUser, post_activity
from tests.fakes.meta_graph import MetaGraphFake, post_webhook

CHANNEL = "19:inbox-channel@thread.tacv2"
ANN = TeamsUser("0b7e3f4c-aaaa-4bbb-8ccc-000000000001", "Ann Employee", "ann@contoso.com")
BOB = TeamsUser("0b7e3f4c-aaaa-4bbb-8ccc-000000000002", "Bob Unregistered", "bob@contoso.com")

TEMPLATES = """
[[templates]]
name = "follow_up"
language = "en_US"
params = 1
description = "Hello {{1}}, following up on our conversation. Is now a good time?"

[[templates]]
name = "hello_world"
params = 0
description = "Hello from Contoso"
"""


async def read_json(store, name: str) -> dict[str, Any] | None:
    """A state document as stored (its JSON layout is what other versions read)."""
    doc = await store.get_doc(name)
    return None if doc is None else json.loads(doc.data)


async def wait_for(
    predicate: Callable[[], Any], *, limit: float = 20.0, what: str = "condition"
) -> Any:
    """Poll until ``predicate()`` is truthy (an async predicate is awaited); fail on timeout."""
    return await eventually(predicate, limit=limit, what=what)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """One running instance of the service."""

    app: Any
    server: LoopbackServer
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def archive(self) -> Archive:
        return self.app[SERVICE].archive

    @property
    def parts(self):
        """The service's wired parts (``bot.app.Service``)."""
        return self.app[SERVICE]


@dataclass
class World:
    """The service instance(s), the fakes, and the HTTP session a test drives them with."""

    meta: MetaGraphFake
    connector: FakeBotConnector
    session: aiohttp.ClientSession
    env: dict[str, str]
    tmp: Path
    services: list[Service] = field(default_factory=list)

    async def start_service(self, gate: Any = None, **overrides: str) -> Service:
        port = int(overrides.pop("PORT", 0)) or free_port()
        env = {**self.env, "PORT": str(port), **overrides}
        settings = Settings.from_env(env)
        app = create_app(settings, gate=gate)
        server = await LoopbackServer(app, port=port).start()
        service = Service(app, server, settings)
        self.services.append(service)
        return service

    async def stop(self) -> None:
        for service in self.services:
            try:
                async with asyncio.timeout(20):
                    await service.server.stop()
            except TimeoutError:
                import sys

                for task in asyncio.all_tasks():
                    task.print_stack(file=sys.stderr)
                raise

    # -- Teams side -----------------------------------------------------------------------------
    async def teams(
        self, service: Service, activity: dict[str, Any], *, token: str | None = None
    ) -> int:
        resp = await post_activity(self.session, service.url, activity, token=token)
        return resp.status

    async def setup_inbox(self, service: Service, user: TeamsUser = ANN) -> None:
        status = await self.teams(
            service,
            user.channel_message(
                "setup", service_url=self.connector.url, channel_id=CHANNEL, mention_bot=True
            ),
        )
        assert status in (200, 201)

    async def register(self, service: Service, user: TeamsUser = ANN) -> None:
        self.connector.add_member(user.object_id, user.name, user.upn)
        await UserRegistry(service.archive).add(
            Member(user.object_id, user.upn, user.name), by="test"
        )

    # -- WhatsApp side --------------------------------------------------------------------------
    async def webhook(self, service: Service, payload: dict[str, Any]) -> int:
        status, _ = await post_webhook(
            self.session, f"{service.url}/api/whatsapp", payload, app_secret=self.meta.app_secret
        )
        return status

    async def deliver(self, service: Service, payload: dict[str, Any]) -> int:
        """A Meta webhook delivery to ``service`` (signed as Meta signs it)."""
        return await self.webhook(service, payload)

    async def inject(self, service: Service, records: list[Record]) -> None:
        """What the webhook does with a delivery: archive, then call the listeners."""
        stored = [(await service.archive.put(r)).record for r in records]
        for listener in service.parts.ingest.listeners:
            await listener(stored)

    # -- the archive ----------------------------------------------------------------------------
    async def records(self, service: Service) -> list[Record]:
        out = []
        async for _name, data in service.archive.iter_records():
            out.append(Record.from_bytes(data))
        return sorted(out, key=lambda r: r.id)

    def thread_posts(self) -> dict[str, list]:
        return {tid: self.connector.posts_in(tid) for tid in self.connector.threads}
