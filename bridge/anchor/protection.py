"""What protects the bytes in Azure: the container's immutability policy, version-level WORM,
legal holds — as far as the Blob service's data plane tells.

With data-plane permissions (what the service and an officer's ``Storage Blob Data`` role
have), Get Container Properties says *whether* the container has an immutability policy and a
legal hold and whether version-level WORM is on; List Blobs says each blob's own policy mode
(``Locked``/``Unlocked``) and legal hold where a policy is set on the blob itself. Whether the
container's policy is locked, its retention period and the legal hold's tags are properties
of the management plane (``az storage container immutability-policy show``): when the blobs do
not tell, the report says so and names that command rather than guess. The storage emulator
reports none of this; that is said plainly too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bridge.errors import ArchiveError


@dataclass
class ProtectionReport:
    """Information lines and warnings (``(kind, name, detail)``) about one container."""

    lines: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str, str]] = field(default_factory=list)

    def warn(self, where: str, detail: str) -> None:
        self.warnings.append(("protection", where, detail))


def lock_command(account: str, container: str) -> str:
    show = (
        f"az storage container immutability-policy show --account-name {account} "
        f"--container-name {container} --query etag -o tsv"
    )
    return (
        f"az storage container immutability-policy lock --account-name {account} "
        f'--container-name {container} --if-match "$({show})"'
    )


async def describe_protection(store: object, label: str) -> ProtectionReport:
    """What protects ``store``'s blobs (an Azure container); nothing for other backends."""
    report = ProtectionReport()
    properties = getattr(store, "container_properties", None)
    if properties is None:
        return report
    url = urlsplit(str(getattr(store, "container_url", "")))
    path = [p for p in url.path.split("/") if p]
    host = url.hostname or ""
    # https://ACCOUNT.blob.core.windows.net/CONTAINER, or an emulator's
    # http://HOST:PORT/ACCOUNT/CONTAINER
    account = path[0] if len(path) > 1 else host.split(".")[0]
    container = path[-1] if path else ""
    where = f"{label} {container}"
    try:
        props = await properties()
    except ArchiveError as exc:
        report.warn(where, f"properties not readable: {exc}")
        return report
    version_worm = getattr(props, "immutable_storage_with_versioning_enabled", None)
    if version_worm is None:
        report.warn(
            where,
            "immutability policy, version-level WORM and legal hold not reported by this "
            "storage (emulator?): nothing shows the blobs are WORM",
        )
        return report
    modes: Counter[str] = Counter()
    blobs = held = 0
    try:
        async for _, mode, hold in store.list_protection():  # type: ignore[attr-defined]
            blobs += 1
            held += bool(hold)
            if mode in ("Locked", "Unlocked"):
                modes[mode] += 1
    except ArchiveError as exc:
        report.lines.append(f"protection: {where}: blob-level policies not readable ({exc})")
    has_policy = bool(getattr(props, "has_immutability_policy", False))
    if modes["Unlocked"]:
        state = f"unlocked on {modes['Unlocked']} of {blobs} blobs"
    elif modes["Locked"]:
        state = f"locked on {modes['Locked']} of {blobs} blobs"
    elif has_policy:
        state = (
            "whether it is locked is not readable with data-plane access; "
            f"`az storage container immutability-policy show --account-name {account} "
            f"--container-name {container} --query state` tells"
        )
    else:
        state = ""
    policy = f"yes, {state}" if has_policy else "none" + (f" ({state})" if state else "")
    container_hold = "yes" if getattr(props, "has_legal_hold", False) else "no"
    report.lines.append(
        f"protection: {where}: immutability policy: {policy}; version-level WORM: "
        f"{'on' if version_worm else 'off'}; legal hold on the container: {container_hold}; "
        f"blobs under a legal hold: {held} of {blobs}"
    )
    if not has_policy and not modes:
        report.warn(
            where,
            "no immutability policy: whoever may write this container can change or delete "
            "its blobs (infra/ sets a time-based retention policy; README: Deploy to Azure)",
        )
    if modes["Unlocked"]:
        report.warn(
            where,
            "the immutability policy is unlocked, so it can still be shortened or removed; "
            f"lock it (irreversible): {lock_command(account, container)}",
        )
    return report
