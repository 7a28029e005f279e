"""A loopback fake of Microsoft Graph (directory part) and of the Entra ID token endpoint.

A real aiohttp server. Routes (``base_url`` ends in ``/v1.0`` like Graph's):

- ``POST /{tenant}/oauth2/v2.0/token`` (outside ``/v1.0``): the client-credentials grant;
  checks ``client_id``/``client_secret`` against the registered app and issues a bearer token.
  Served over HTTPS too (``authority_url``) with a test certificate, because azure-identity's
  ``ClientSecretCredential`` accepts only an https authority: the production credential class
  is driven against the fake, trusting the certificate through ``connection_verify`` (in
  process) or ``SSL_CERT_FILE`` (a ``wabridge`` subprocess, with ``AZURE_AUTHORITY_HOST``).
- ``GET /v1.0/groups/{id}/transitiveMembers/graph.user`` (also ``microsoft.graph.user``, and
  ``/transitiveMembers`` with nested groups among the users): ``$top``, ``$select``, paging with
  ``@odata.nextLink`` (an opaque ``$skiptoken``), bearer-checked (401 otherwise), Graph's error
  body on failure, 404 ``Request_ResourceNotFound`` for an unknown group.

Failures (:meth:`MsGraphFake.fail_page`) make one page answer an error status, for N calls.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_VERSION = "v1.0"


@dataclass
class DirectoryUser:
    id: str
    userPrincipalName: str  # noqa: N815 - Graph's property name
    displayName: str  # noqa: N815

    def as_graph(self, select: list[str] | None) -> dict[str, Any]:
        full = {
            "@odata.type": "#microsoft.graph.user",
            "id": self.id,
            "userPrincipalName": self.userPrincipalName,
            "displayName": self.displayName,
            "accountEnabled": True,
            "mail": self.userPrincipalName,
        }
        if select:
            return {
                "@odata.type": full["@odata.type"],
                **{k: v for k, v in full.items() if k in select},
            }
        return full


def make_users(
    count: int, *, domain: str = "contoso.example", start: int = 0
) -> list[DirectoryUser]:
    """``count`` made-up directory users with stable GUIDs."""
    return [
        DirectoryUser(
            str(uuid.UUID(int=0x5EED0000_0000_4000_8000_000000000000 + i)),
            f"user{i:04d}@{domain}",
            f"User {i:04d}",
        )
        for i in range(start, start + count)
    ]


@dataclass
class PageFailure:
    page: int  # 0-based page index of a listing
    status: int = 500
    times: int | None = 1


@dataclass
class MsGraphFake:
    """The fake: ``async with MsGraphFake() as graph:``; fill ``groups`` and ``apps``."""

    groups: dict[str, list[DirectoryUser]] = field(default_factory=dict)
    nested_groups: dict[str, list[str]] = field(default_factory=dict)
    apps: dict[str, str] = field(default_factory=dict)  # client id -> secret
    page_size_cap: int = 100
    tokens: set[str] = field(default_factory=set)
    #: (method, path with query, whether the bearer token was valid) of each Graph request
    requests: list[tuple[str, str, bool]] = field(default_factory=list)
    failures: list[PageFailure] = field(default_factory=list)
    tls: Any = None  # a tests.support.tls.LoopbackCert: also serve HTTPS
    token_requests: int = 0
    _runner: web.AppRunner | None = None
    _port: int = 0
    _tls_port: int = 0

    async def __aenter__(self) -> MsGraphFake:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> MsGraphFake:
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get(f"/{API_VERSION}/groups/{{group}}/transitiveMembers", self._members)
        app.router.add_get(
            f"/{API_VERSION}/groups/{{group}}/transitiveMembers/{{cast}}", self._members
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._port = _bound_port(site)
        if self.tls is not None:
            tls_site = web.TCPSite(self._runner, host, 0, ssl_context=self.tls.server_context())
            await tls_site.start()
            self._tls_port = _bound_port(tls_site)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def authority_url(self) -> str:
        """The HTTPS root serving the token endpoint (``AZURE_AUTHORITY_HOST``)."""
        if not self._tls_port:
            raise RuntimeError("start the fake with tls= to serve the token endpoint over HTTPS")
        return f"https://127.0.0.1:{self._tls_port}"

    @property
    def base_url(self) -> str:
        """What ``GRAPH_URL`` is set to."""
        return f"{self.root_url}/{API_VERSION}"

    def register_app(
        self, client_id: str | None = None, secret: str | None = None
    ) -> tuple[str, str]:
        client_id = client_id or str(uuid.uuid4())
        secret = secret or secrets.token_urlsafe(24)
        self.apps[client_id] = secret
        return client_id, secret

    def fail_page(self, page: int, status: int = 500, times: int | None = 1) -> None:
        self.failures.append(PageFailure(page, status, times))

    def issue_token(self) -> str:
        token = "fake-graph-" + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return token

    # -- routes ----------------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "only client_credentials")
        if client_id not in self.apps or not secrets.compare_digest(
            str(secret or ""), self.apps[client_id]
        ):
            return _oauth_error(
                401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )
        if form.get("scope") != "https://graph.microsoft.com/.default":
            return _oauth_error(400, "invalid_scope", f"AADSTS70011: bad scope {form.get('scope')}")
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": self.issue_token(),
            }
        )

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[len("Bearer ") :] in self.tokens

    async def _members(self, request: web.Request) -> web.Response:
        authed = self._authorized(request)
        self.requests.append((request.method, request.path_qs, authed))
        if not authed:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        group = request.match_info["group"]
        cast = request.match_info.get("cast")
        if cast not in (None, "graph.user", "microsoft.graph.user"):
            return _graph_error(400, "Request_UnsupportedQuery", f"unsupported cast {cast}")
        if group not in self.groups:
            return _graph_error(
                404,
                "Request_ResourceNotFound",
                f"Resource '{group}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        entries: list[dict[str, Any]] = []
        select = [s for s in request.query.get("$select", "").split(",") if s] or None
        for user in self._transitive_users(group):
            entries.append(user.as_graph(select))
        if cast is None:
            for nested in self._transitive_groups(group):
                entries.append({"@odata.type": "#microsoft.graph.group", "id": nested})
        top = min(int(request.query.get("$top") or 100), self.page_size_cap)
        skip = _decode_skiptoken(request.query.get("$skiptoken"))
        page_index = skip // top if top else 0
        for failure in self.failures:
            if failure.page == page_index and failure.times != 0:
                if failure.times is not None:
                    failure.times -= 1
                return _graph_error(
                    failure.status,
                    "generalException",
                    "An unexpected error occurred (fake failure).",
                )
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/$metadata#users",
            "value": entries[skip : skip + top],
        }
        if skip + top < len(entries):
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = _encode_skiptoken(skip + top)
            from urllib.parse import urlencode

            body["@odata.nextLink"] = f"{self.root_url}{request.path}?{urlencode(query)}"
        return web.json_response(body)

    def _transitive_users(self, group: str, seen: set[str] | None = None) -> list[DirectoryUser]:
        seen = seen if seen is not None else set()
        if group in seen:
            return []
        seen.add(group)
        users = list(self.groups.get(group, []))
        for nested in self.nested_groups.get(group, []):
            users.extend(self._transitive_users(nested, seen))
        unique: dict[str, DirectoryUser] = {}
        for user in users:
            unique.setdefault(user.id, user)
        return list(unique.values())

    def _transitive_groups(self, group: str) -> list[str]:
        out, stack = [], list(self.nested_groups.get(group, []))
        while stack:
            nested = stack.pop()
            if nested not in out:
                out.append(nested)
                stack.extend(self.nested_groups.get(nested, []))
        return out


def _bound_port(site: web.TCPSite) -> int:
    return site._server.sockets[0].getsockname()[1]  # aiohttp has no public accessor


def _encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_skiptoken(token: str | None) -> int:
    if not token:
        return 0
    padded = token + "=" * (-len(token) % 4)
    return int(json.loads(base64.urlsafe_b64decode(padded))["o"])


def _graph_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        },
        status=status,
    )


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description, "error_codes": [7000215]}, status=status
    )
