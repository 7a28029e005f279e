"""A loopback Bot Connector: what the bot posts to Teams, recorded; and Teams' side of a chat.

Routes (Bot Framework REST API v3): create conversation (a channel thread), send and reply
activities, update an activity, get a member, and attachments guarded by a bearer check.
:class:`TeamsUser` builds the activities Teams would send to the bot for one employee.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.loopback.server import LoopbackServer
from bridge.record import now_rfc3339


@dataclass
class Post:
    """One activity the bot posted: where, its id, and the payload it sent."""

    conversation_id: str
    activity_id: str
    activity: dict[str, Any]
    reply_to: str | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)
    #: ``time.monotonic()`` when the post arrived (for benchmarks).
    received_at: float = field(default_factory=time.monotonic)

    @property
    def current(self) -> dict[str, Any]:
        """The activity as it shows now (after any updates)."""
        return self.updates[-1] if self.updates else self.activity

    def shown_text(self) -> str:
        """All the text a reader sees in this post (message text and card text blocks)."""
        return _text_of(self.current)


def _text_of(activity: dict[str, Any]) -> str:
    parts = [activity.get("text") or ""]
    for attachment in activity.get("attachments") or []:
        parts.extend(_card_texts(attachment.get("content")))
    return "\n".join(p for p in parts if p)


def _card_texts(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for key in ("text", "title", "url", "altText"):
            value = node.get(key)
            if isinstance(value, str):
                out.append(value)
        for value in node.values():
            if isinstance(value, dict | list):
                out.extend(_card_texts(value))
    elif isinstance(node, list):
        for item in node:
            out.extend(_card_texts(item))
    return out


class FakeBotConnector:
    """The Bot Connector service as the bot sees it, on a loopback port."""

    def __init__(self, *, attachment_token: str | None = None) -> None:
        self.attachment_token = attachment_token
        self.posts: list[Post] = []
        self.threads: dict[str, Post] = {}
        self.members: dict[str, dict[str, Any]] = {}
        self.attachments: dict[str, tuple[bytes, str]] = {}
        self.refused_attachment_requests = 0
        #: While True every route answers 503, as a Bot Connector outage would.
        self.unavailable = False
        self._ids = itertools.count(1)
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._outage])
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_get("/v3/conversations/{cid}/members/{mid}", self._member)
        app.router.add_get("/v3/attachments/{id}/views/{view}", self._attachment)
        self._server = LoopbackServer(app)

    @property
    def url(self) -> str:
        return self._server.url

    async def start(self) -> FakeBotConnector:
        await self._server.start()
        return self

    async def stop(self) -> None:
        await self._server.stop()

    # -- set-up -----------------------------------------------------------------------------
    def add_member(self, object_id: str, name: str, upn: str) -> None:
        self.members[object_id] = {
            "id": f"29:{object_id}",
            "aadObjectId": object_id,
            "name": name,
            "userPrincipalName": upn,
            "email": upn,
            "userRole": "user",
        }

    def add_attachment(self, data: bytes, content_type: str) -> str:
        """Serve ``data`` as a Teams attachment; returns its content URL."""
        key = uuid.uuid4().hex
        self.attachments[key] = (data, content_type)
        return f"{self.url}/v3/attachments/{key}/views/original"

    # -- what tests look at -----------------------------------------------------------------
    def posts_in(self, thread_id: str) -> list[Post]:
        """The root post of a thread and the bot's replies in it, in order."""
        return [p for p in self.posts if p.conversation_id == thread_id]

    def find_post(self, activity_id: str) -> Post | None:
        return next((p for p in self.posts if p.activity_id == activity_id), None)

    # -- routes -----------------------------------------------------------------------------
    @web.middleware
    async def _outage(self, request: web.Request, handler):
        if self.unavailable:
            return web.json_response(
                {"error": {"code": "ServiceUnavailable", "message": "try again later"}}, status=503
            )
        return await handler(request)

    def _new_id(self) -> str:
        return f"{1700000000000 + next(self._ids)}"

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body = await request.json()
        channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
        if not body.get("isGroup") or not channel:
            return web.json_response(
                {"error": {"code": "BadArgument", "message": "only channel threads are supported"}},
                status=400,
            )
        activity_id = self._new_id()
        thread_id = f"{channel};messageid={activity_id}"
        post = Post(thread_id, activity_id, body.get("activity") or {})
        self.posts.append(post)
        self.threads[thread_id] = post
        return web.json_response({"id": thread_id, "activityId": activity_id}, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        activity = await request.json()
        activity_id = self._new_id()
        self.posts.append(Post(cid, activity_id, activity, request.match_info.get("aid")))
        return web.json_response({"id": activity_id}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        aid = request.match_info["aid"]
        post = self.find_post(aid)
        if post is None or post.conversation_id != request.match_info["cid"]:
            return web.json_response({"error": {"code": "NotFound", "message": aid}}, status=404)
        post.updates.append(await request.json())
        return web.json_response({"id": aid})

    async def _member(self, request: web.Request) -> web.Response:
        mid = request.match_info["mid"]
        member = self.members.get(mid) or next(
            (m for m in self.members.values() if m["id"] == mid), None
        )
        if member is None:
            return web.json_response(
                {"error": {"code": "MemberNotFoundInConversation", "message": mid}}, status=404
            )
        return web.json_response(member)

    async def _attachment(self, request: web.Request) -> web.Response:
        if self.attachment_token is not None:
            given = request.headers.get("Authorization", "")
            if given != f"Bearer {self.attachment_token}":
                self.refused_attachment_requests += 1
                return web.json_response({"error": {"code": "Unauthorized"}}, status=401)
        item = self.attachments.get(request.match_info["id"])
        if item is None:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        return web.Response(body=item[0], content_type=item[1])


@dataclass
class TeamsUser:
    """An employee in Teams: builds the activities Teams would send to the bot for them."""

    object_id: str
    name: str
    upn: str
    tenant_id: str = "tenant-contoso"
    team_id: str = "19:team-contoso@thread.tacv2"

    def channel_message(
        self,
        text: str,
        *,
        service_url: str,
        channel_id: str,
        thread_id: str | None = None,
        bot_id: str = "28:wabridge-bot",
        mention_bot: bool = False,
        attachments: list[dict[str, Any]] | None = None,
        value: dict[str, Any] | None = None,
        activity_id: str | None = None,
    ) -> dict[str, Any]:
        """A message in a channel (a new post, or a reply when ``thread_id`` is given)."""
        entities = []
        if mention_bot:
            text = f"<at>wabridge</at> {text}"
            entities.append(
                {
                    "type": "mention",
                    "text": "<at>wabridge</at>",
                    "mentioned": {"id": bot_id, "name": "wabridge"},
                }
            )
        activity_id = activity_id or uuid.uuid4().hex
        conversation = thread_id or f"{channel_id};messageid={activity_id}"
        activity = self._base("message", service_url, bot_id, activity_id)
        activity.update(
            {
                "text": text,
                "textFormat": "plain",
                "entities": entities,
                "attachments": attachments or [],
                "conversation": {
                    "id": conversation,
                    "isGroup": True,
                    "conversationType": "channel",
                    "tenantId": self.tenant_id,
                },
                "channelData": {
                    "teamsChannelId": channel_id,
                    "teamsTeamId": self.team_id,
                    "channel": {"id": channel_id},
                    "team": {"id": self.team_id},
                    "tenant": {"id": self.tenant_id},
                },
            }
        )
        if thread_id:
            activity["replyToId"] = thread_id.split(";messageid=")[-1]
        if value is not None:
            activity["value"] = value
        return activity

    def channel_edit(
        self, activity_id: str, text: str, *, service_url: str, channel_id: str, thread_id: str
    ) -> dict[str, Any]:
        activity = self.channel_message(
            text,
            service_url=service_url,
            channel_id=channel_id,
            thread_id=thread_id,
            activity_id=activity_id,
        )
        activity["type"] = "messageUpdate"
        activity["channelData"]["eventType"] = "editMessage"
        return activity

    def channel_delete(
        self, activity_id: str, *, service_url: str, channel_id: str, thread_id: str
    ) -> dict[str, Any]:
        activity = self.channel_message(
            "",
            service_url=service_url,
            channel_id=channel_id,
            thread_id=thread_id,
            activity_id=activity_id,
        )
        activity["type"] = "messageDelete"
        activity["channelData"]["eventType"] = "softDeleteMessage"
        return activity

    def personal_message(
        self,
        text: str,
        *,
        service_url: str,
        bot_id: str = "28:wabridge-bot",
        value: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        activity = self._base("message", service_url, bot_id, uuid.uuid4().hex)
        activity.update(
            {
                "text": text,
                "textFormat": "plain",
                "conversation": {
                    "id": f"a:personal-{self.object_id}",
                    "conversationType": "personal",
                    "tenantId": self.tenant_id,
                },
                "channelData": {"tenant": {"id": self.tenant_id}},
            }
        )
        if value is not None:
            activity["value"] = value
        return activity

    def _base(self, kind: str, service_url: str, bot_id: str, activity_id: str) -> dict[str, Any]:
        return {
            "type": kind,
            "id": activity_id,
            "channelId": "msteams",
            "serviceUrl": service_url,
            "timestamp": now_rfc3339(),
            "locale": "en-US",
            "from": {
                "id": f"29:{self.object_id}",
                "name": self.name,
                "aadObjectId": self.object_id,
            },
            "recipient": {"id": bot_id, "name": "wabridge"},
        }


async def post_activity(
    session: aiohttp.ClientSession,
    bot_url: str,
    activity: dict[str, Any],
    *,
    token: str | None = None,
) -> aiohttp.ClientResponse:
    """Deliver an activity to the bot's ``/api/messages`` as the Bot Connector would."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(f"{bot_url}/api/messages", json=activity, headers=headers) as resp:
        await resp.read()
        return resp
