"""``wabridge users …``: the registry of employees authorized to use the relay.

``add``/``remove``/``list`` and ``report`` need only the archive's configuration; ``sync``
needs Microsoft Graph credentials too (``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``,
``AZURE_CLIENT_SECRET``, or ``--managed-identity``). Every change is an ``audit`` record.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from dataclasses import replace

from bot.cli.common import CliError, add_archive_option, run_with_archive
from bot.settings import AzureCredentials, ConfigError, Env, load_environment
from bridge.archive import Archive
from bridge.governance.registry import Member, RegistryChange, RegistryError, UserRegistry
from bridge.governance.report import rows_to_csv, users_report_rows


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("users", help="the employees authorized to use the relay")
    commands = parser.add_subparsers(dest="users_command", metavar="ACTION")
    commands.required = True

    listing = commands.add_parser(
        "list",
        help="list authorized employees",
        description=(
            "Print each authorized employee's UPN, Entra object id, name and who added them."
        ),
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    add_archive_option(listing)
    listing.set_defaults(func=cmd_list)

    add = commands.add_parser(
        "add",
        help="authorize an employee",
        description="Authorize an employee; a running service sees it within seconds.",
    )
    add.add_argument("--upn", required=True, help="user principal name, e.g. ana@contoso.com")
    add.add_argument(
        "--object-id",
        required=True,
        metavar="ENTRA_OBJECT_ID",
        help="the user's Entra ID object id (a GUID)",
    )
    add.add_argument("--name", help="display name")
    _add_by_option(add)
    add_archive_option(add)
    add.set_defaults(func=cmd_add)

    remove = commands.add_parser(
        "remove",
        help="withdraw an employee's authorization",
        description="Withdraw an authorization, naming the employee by UPN or object id.",
    )
    who = remove.add_mutually_exclusive_group(required=True)
    who.add_argument("--upn")
    who.add_argument("--object-id", metavar="ENTRA_OBJECT_ID")
    _add_by_option(remove)
    add_archive_option(remove)
    remove.set_defaults(func=cmd_remove)

    report = commands.add_parser(
        "report",
        help="CSV: acknowledgements, message counts, last activity",
        description=(
            "CSV of authorized employees: when each acknowledged which policy version, their "
            "messages (attempts), how many were sent, flagged, blocked or refused, and their last "
            "activity. The current policy version comes from --policy-file or "
            "WABRIDGE_POLICY_FILE."
        ),
    )
    report.add_argument("--out", metavar="FILE", help="write the CSV here instead of stdout")
    report.add_argument("--policy-file", metavar="FILE", help="overrides WABRIDGE_POLICY_FILE")
    add_archive_option(report)
    report.set_defaults(func=cmd_report)

    sync = commands.add_parser(
        "sync",
        help="make the registry equal to an Entra ID group",
        description=(
            "Make the registry equal to the transitive user members of an Entra ID group, through "
            "Microsoft Graph (GRAPH_URL overrides its address). Credentials: AZURE_TENANT_ID, "
            "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or --managed-identity. If Graph fails, the "
            "registry is left unchanged."
        ),
    )
    sync.add_argument("--group", required=True, metavar="GROUP_ID", help="the group's object id")
    sync.add_argument("--tenant-id", help="overrides AZURE_TENANT_ID")
    sync.add_argument("--client-id", help="overrides AZURE_CLIENT_ID")
    sync.add_argument(
        "--managed-identity",
        action="store_true",
        help="authenticate as the host's managed identity (AZURE_CLIENT_ID selects "
        "a user-assigned one)",
    )
    sync.add_argument("--graph-url", help="Microsoft Graph base URL (overrides GRAPH_URL)")
    sync.add_argument(
        "--allow-empty", action="store_true", help="let an empty group withdraw every authorization"
    )
    _add_by_option(sync)
    add_archive_option(sync)
    sync.set_defaults(func=cmd_sync)


def _add_by_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by",
        help="who makes the change, for the audit record (default: the operating-system user)",
    )


def _actor(args: argparse.Namespace) -> str:
    if args.by:
        return args.by
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def cmd_list(args: argparse.Namespace) -> int:
    users = run_with_archive(args, lambda archive: UserRegistry(archive).users())
    ordered = sorted(users.values(), key=lambda u: u.upn.lower())
    if args.json:
        for user in ordered:
            print(json.dumps(user.to_dict(), sort_keys=True, ensure_ascii=False))
        return 0
    if not ordered:
        print("no authorized users")
        return 0
    width = max(len("UPN"), *(len(u.upn) for u in ordered))
    print(f"{'UPN':<{width}}  {'OBJECT ID':<36}  {'NAME':<24}  ADDED BY / AT")
    for user in ordered:
        print(
            f"{user.upn:<{width}}  {user.object_id:<36}  {(user.name or '-')[:24]:<24}  "
            f"{user.added_by} {user.added_at}"
        )
    print(f"{len(ordered)} authorized user(s)")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    member = Member(args.object_id, args.upn, args.name)
    change = _registry_call(args, lambda reg: reg.add(member, by=_actor(args)))
    if change.added:
        print(f"authorized {change.added[0].upn} ({change.added[0].object_id})")
    elif change.updated:
        print(f"updated {change.updated[0].upn} ({change.updated[0].object_id})")
    else:
        print(f"{args.upn} is already authorized; nothing changed")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    change = _registry_call(
        args, lambda reg: reg.remove(object_id=args.object_id, upn=args.upn, by=_actor(args))
    )
    user = change.removed[0]
    print(f"withdrew the authorization of {user.upn} ({user.object_id})")
    return 0


def _registry_call(args: argparse.Namespace, call) -> RegistryChange:
    async def body(archive: Archive) -> RegistryChange:
        await archive.store.ensure_ready()  # the first change may precede the service's first run
        return await call(UserRegistry(archive))

    try:
        return run_with_archive(args, body)
    except RegistryError as exc:
        raise CliError(str(exc), exit_code=1) from exc


def cmd_report(args: argparse.Namespace) -> int:
    from bot.cli.policy_cmds import load_policy_option

    policy = load_policy_option(args.policy_file, required=False)

    async def body(archive: Archive):
        users = await UserRegistry(archive).users()
        docs = []
        async for _name, data in archive.iter_records():
            try:
                doc = json.loads(data)
            except ValueError:
                continue
            if doc.get("platform") == "teams" or doc.get("direction") == "outbound":
                docs.append(doc)
        return users, docs

    users, docs = run_with_archive(args, body)
    text = rows_to_csv(users_report_rows(users.values(), docs, policy.version if policy else None))
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise CliError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
        print(f"wrote {len(users)} user(s) to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from bot.entra.directory import GraphDirectory, MissingCredentials, make_credential
    from bot.governance.sync import sync_group
    from bot.ports import DirectoryError

    read = Env(load_environment())
    try:
        found = AzureCredentials.from_env(read, managed_identity=args.managed_identity)
        credentials = replace(
            found,
            tenant_id=args.tenant_id or found.tenant_id,
            client_id=args.client_id or found.client_id,
        )
        credential = make_credential(credentials)
        graph_url = args.graph_url or read.text("GRAPH_URL")
    except (MissingCredentials, ConfigError) as exc:
        raise CliError(str(exc)) from exc

    async def body(archive: Archive) -> RegistryChange:
        await archive.store.ensure_ready()
        directory = GraphDirectory(credential, base_url=graph_url)
        try:
            return await sync_group(
                UserRegistry(archive),
                directory,
                args.group,
                by=args.by,
                allow_empty=args.allow_empty,
            )
        finally:
            await directory.close()

    try:
        change = run_with_archive(args, body)
    except DirectoryError as exc:
        raise CliError(f"{exc}; the registry is unchanged", exit_code=3) from exc
    for user in change.added:
        print(f"added    {user.upn} ({user.object_id})")
    for user in change.updated:
        print(f"updated  {user.upn} ({user.object_id})")
    for user in change.removed:
        print(f"removed  {user.upn} ({user.object_id})")
    print(
        f"sync of group {args.group}: {len(change.added)} added, {len(change.updated)} updated, "
        f"{len(change.removed)} removed"
    )
    return 0
