"""PyPI's security advisories as an OSV query endpoint, for pip-audit.

pip-audit asks PyPI for the advisories of each pinned release (``/pypi/NAME/VERSION/json``) or
asks OSV (``api.osv.dev``). Where neither answers (a network that reaches the package
registries' project pages only), this loopback server answers pip-audit's OSV queries
(``--vulnerability-service osv --osv-url http://127.0.0.1:PORT/v1/query``) from PyPI's project
JSON (``/pypi/NAME/json``), which carries the advisories of the project's newest release.

- A pin that is the newest release gets exactly PyPI's advisories for it.
- A pin behind the newest release gets the advisories still open on the newest release (a
  newer release is affected, so an older one is taken to be too). Advisories fixed between
  the pin and the newest release cannot be seen this way: such pins are listed in ``behind``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from packaging.utils import canonicalize_name

PYPI = "https://pypi.org/pypi"


@dataclass
class Project:
    newest: str
    advisories: list[dict] = field(default_factory=list)


def to_osv(name: str, advisory: dict) -> dict:
    """One advisory of PyPI's JSON API in the OSV schema pip-audit reads."""
    events = [{"introduced": "0"}] + [{"fixed": v} for v in advisory.get("fixed_in") or []]
    return {
        "schema_version": "1.6.0",
        "id": advisory["id"],
        "aliases": advisory.get("aliases") or [],
        "summary": advisory.get("summary") or None,
        "details": advisory.get("details") or "",
        "withdrawn": advisory.get("withdrawn"),
        "affected": [
            {
                "package": {"name": name, "ecosystem": "PyPI"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }


class PypiAdvisories:
    """``POST /v1/query`` (OSV's API) answered from PyPI project JSON fetched beforehand."""

    def __init__(self, pypi: str = PYPI, *, concurrency: int = 8, timeout: float = 30) -> None:
        self.pypi = pypi.rstrip("/")
        self.projects: dict[str, Project] = {}
        self.queried: list[tuple[str, str]] = []
        self._concurrency = concurrency
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def behind(self) -> list[tuple[str, str, str]]:
        """(name, pinned, newest) of each queried pin that is not its project's newest release."""
        return sorted(
            (name, version, self.projects[name].newest)
            for name, version in self.queried
            if name in self.projects and self.projects[name].newest != version
        )

    async def fetch(self, names: Iterable[str]) -> None:
        """Fetch each project's JSON; raises on any that cannot be had (nothing is guessed)."""
        wanted = sorted({canonicalize_name(n) for n in names} - set(self.projects))
        gate = asyncio.Semaphore(self._concurrency)
        async with aiohttp.ClientSession(timeout=self._timeout, trust_env=True) as session:

            async def one(name: str) -> None:
                async with gate, session.get(f"{self.pypi}/{name}/json") as response:
                    if response.status != 200:
                        raise RuntimeError(f"{self.pypi}/{name}/json answered {response.status}")
                    doc = await response.json(content_type=None)
                self.projects[name] = Project(
                    newest=doc["info"]["version"], advisories=doc.get("vulnerabilities") or []
                )

            await asyncio.gather(*(one(n) for n in wanted))

    async def query(self, request: web.Request) -> web.Response:
        body = await request.json(loads=json.loads)
        name = canonicalize_name(body["package"]["name"])
        project = self.projects.get(name)
        if project is None or body["package"].get("ecosystem") != "PyPI":
            # Not fetched beforehand: refuse, so that pip-audit fails rather than passes.
            return web.json_response({"error": f"{name} was not fetched"}, status=503)
        self.queried.append((name, body["version"]))
        return web.json_response({"vulns": [to_osv(name, a) for a in project.advisories]})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/query", self.query)
        return app
