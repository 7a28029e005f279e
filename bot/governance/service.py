"""Governance inside the running service: the gate, the start-up checks, the scheduled sync.

Settings (environment):

- ``WABRIDGE_POLICY_FILE``: the policy; a bad file stops start-up naming the line or rule;
  unset, the service warns that no acknowledgement or lexicon applies.
- ``WABRIDGE_REGISTRY_CACHE_SECONDS`` (default 3): how long a registry read is reused.
- ``WABRIDGE_USERS_SYNC_GROUP``: an Entra ID group whose transitive members the registry is
  synced to every ``WABRIDGE_USERS_SYNC_INTERVAL`` seconds (default 3600), with the
  ``AZURE_*`` credentials (``WABRIDGE_USERS_SYNC_MANAGED_IDENTITY=1`` for a managed identity)
  and ``GRAPH_URL``. Several instances may all run it: the registry write is ETag-guarded and a
  sync that finds nothing to change writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from bot.governance.directory import (
    Directory,
    DirectoryError,
    GraphDirectory,
    credential_from_env,
    sync_group,
)
from bot.governance.gate import GovernanceGate
from bot.settings import Settings
from bridge.archive import Archive
from bridge.errors import ArchiveError
from bridge.governance.policy import load_policy
from bridge.governance.registry import UserRegistry

log = logging.getLogger("wabridge.governance")

GOVERNANCE = web.AppKey("governance", GovernanceGate)
DEFAULT_SYNC_INTERVAL = 3600.0


def build_gate(settings: Settings, archive: Archive) -> GovernanceGate:
    """The gate for ``settings``; raises ``PolicyError`` (naming line or rule) on a bad policy."""
    policy = load_policy(settings.policy_file) if settings.policy_file else None
    if policy is None:
        log.warning("WABRIDGE_POLICY_FILE is not set: employees are not asked to acknowledge a "
                    "WhatsApp policy and no lexicon rules apply")
    else:
        log.info("WhatsApp policy version %s from %s: %d lexicon rule(s)",
                 policy.version, policy.source, len(policy.rules))
    return GovernanceGate(archive, policy, registry_ttl=settings.governance.registry_cache_seconds)


def install_governance(
    app: web.Application, settings: Settings, archive: Archive
) -> GovernanceGate:
    """Build the gate into ``app`` (``app[GOVERNANCE]``) and start the scheduled sync if set."""
    gate = build_gate(settings, archive)
    app[GOVERNANCE] = gate
    group = settings.governance.sync_group
    if group:
        interval = settings.governance.sync_interval
        creds = settings.governance.credentials

        def directory() -> Directory:
            credential = credential_from_env(
                {}, tenant_id=creds.tenant_id, client_id=creds.client_id,
                client_secret=creds.client_secret, managed_identity=creds.managed_identity,
            )
            return GraphDirectory(credential, base_url=settings.ms_graph_url)

        async def scheduled(app: web.Application) -> AsyncIterator[None]:
            stop = asyncio.Event()
            task = asyncio.create_task(
                run_scheduled_sync(UserRegistry(archive), directory, group, interval, stop),
                name="wabridge-users-sync",
            )
            yield
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(scheduled)
        log.info("users sync with Entra ID group %s every %gs", group, interval)
    return gate


async def run_scheduled_sync(
    registry: UserRegistry, make_directory: Callable[[], Directory], group: str,
    interval: float, stop: asyncio.Event,
) -> None:
    """Sync at once, then every ``interval`` seconds until ``stop`` is set; failures are logged
    and leave the registry as it was."""
    while not stop.is_set():
        directory = make_directory()
        try:
            change = await sync_group(registry, directory, group)
            if change.changed:
                log.info("users sync of group %s: %d added, %d updated, %d removed", group,
                         len(change.added), len(change.updated), len(change.removed))
        except (DirectoryError, ArchiveError) as exc:
            log.error("users sync of group %s failed, registry unchanged: %s", group, exc)
        except Exception:  # never let the schedule die
            log.exception("users sync of group %s failed unexpectedly", group)
        finally:
            close = getattr(directory, "close", None)
            if close is not None:
                await close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
