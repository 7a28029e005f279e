"""Governance inside the running service: the gate built from the settings, the scheduled sync.

- ``WABRIDGE_POLICY_FILE``: the policy; a bad file stops start-up naming the line or rule;
  unset, the service warns that no acknowledgement or lexicon applies.
- ``WABRIDGE_REGISTRY_CACHE_SECONDS`` (default 3): how long a registry read is reused.
- ``WABRIDGE_USERS_SYNC_GROUP``: an Entra ID group the registry is synced to every
  ``WABRIDGE_USERS_SYNC_INTERVAL`` seconds (see :mod:`bot.governance.sync`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.governance.gate import GovernanceGate
from bot.governance.sync import ScheduledSync
from bot.ports import Directory
from bot.settings import Settings
from bridge.archive import Archive
from bridge.governance.policy import load_policy
from bridge.governance.registry import UserRegistry

log = logging.getLogger("wabridge.governance")


def build_gate(settings: Settings, archive: Archive) -> GovernanceGate:
    """The gate for ``settings``; raises ``PolicyError`` (naming line or rule) on a bad policy."""
    policy = load_policy(settings.policy_file) if settings.policy_file else None
    if policy is None:
        log.warning(
            "WABRIDGE_POLICY_FILE is not set: employees are not asked to acknowledge a "
            "WhatsApp policy and no lexicon rules apply"
        )
    else:
        log.info(
            "WhatsApp policy version %s from %s: %d lexicon rule(s)",
            policy.version,
            policy.source,
            len(policy.rules),
        )
    return GovernanceGate(archive, policy, registry_ttl=settings.governance.registry_cache_seconds)


def scheduled_sync(
    settings: Settings, archive: Archive, make_directory: Callable[[], Directory]
) -> ScheduledSync | None:
    """The scheduled users sync ``settings`` ask for, if any."""
    group = settings.governance.sync_group
    if not group:
        return None
    interval = settings.governance.sync_interval
    log.info("users sync with Entra ID group %s every %gs", group, interval)
    return ScheduledSync(UserRegistry(archive), make_directory, group, interval)
