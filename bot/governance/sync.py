"""The registry made equal to an Entra ID group: once (``wabridge users sync``) or on a schedule.

The directory is a :class:`bot.ports.Directory` (Microsoft Graph in production, see
``bot/entra``). The whole membership is read first; if any page fails, :class:`DirectoryError`
is raised and the registry is left as it was. Then one ETag-guarded write applies the
difference and each addition, update and removal is archived as an ``audit`` record. Several
instances may all run the schedule: a sync that finds nothing to change writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bot.ports import Directory, DirectoryError
from bridge.errors import ArchiveError
from bridge.governance.registry import RegistryChange, UserRegistry

log = logging.getLogger("wabridge.governance")


async def sync_group(
    registry: UserRegistry,
    directory: Directory,
    group_id: str,
    *,
    by: str | None = None,
    allow_empty: bool = False,
) -> RegistryChange:
    """Make the registry equal to the group's transitive user members.

    An empty group would withdraw every authorization: that needs ``allow_empty``.
    """
    members = await directory.group_members(group_id)
    if not members and not allow_empty:
        current = await registry.users()
        if current:
            raise DirectoryError(
                f"group {group_id} has no user members; refusing to withdraw all "
                f"{len(current)} authorizations (allow an empty group explicitly to do that)"
            )
    return await registry.replace_all(
        members, by=by or f"entra-sync:{group_id}", source=f"entra-group:{group_id}"
    )


async def run_scheduled_sync(
    registry: UserRegistry,
    make_directory: Callable[[], Directory],
    group: str,
    interval: float,
    stop: asyncio.Event,
) -> None:
    """Sync at once, then every ``interval`` seconds until ``stop`` is set; failures are logged
    and leave the registry as it was."""
    while not stop.is_set():
        directory = make_directory()
        try:
            change = await sync_group(registry, directory, group)
            if change.changed:
                log.info(
                    "users sync of group %s: %d added, %d updated, %d removed",
                    group,
                    len(change.added),
                    len(change.updated),
                    len(change.removed),
                )
        except (DirectoryError, ArchiveError) as exc:
            log.error("users sync of group %s failed, registry unchanged: %s", group, exc)
        except Exception:  # never let the schedule die
            log.exception("users sync of group %s failed unexpectedly", group)
        finally:
            await directory.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


class ScheduledSync:
    """The scheduled sync as a background task of the service (started and stopped by it)."""

    def __init__(
        self,
        registry: UserRegistry,
        make_directory: Callable[[], Directory],
        group: str,
        interval: float,
    ) -> None:
        self._args = (registry, make_directory, group, interval)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(
            run_scheduled_sync(*self._args, self._stop), name="wabridge-users-sync"
        )

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
