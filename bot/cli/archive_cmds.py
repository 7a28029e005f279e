"""``wabridge archive …``: search, show, verify and stats for compliance officers."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from bot.cli.common import CliError, add_archive_option, run_with_archive
from bot.cli.pending_cmd import add_pending_command
from bridge.archive import Archive
from bridge.errors import RecordNotFound
from bridge.query import RecordQuery, matches, parse_time_bound, sort_key
from bridge.record import KINDS, PLATFORMS
from bridge.verify import verify_archive


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("archive", help="search, show, verify and report on the archive")
    commands = parser.add_subparsers(dest="archive_command", metavar="ACTION")
    commands.required = True

    search = commands.add_parser(
        "search", help="find records", description="Find records; every filter is optional."
    )
    add_selection_options(search)
    search.add_argument("--json", action="store_true", help="one canonical record per line")
    search.add_argument("--limit", type=int, help="at most this many records")
    add_archive_option(search)
    search.set_defaults(func=cmd_search)

    show = commands.add_parser("show", help="print one record", description="Print one record by id.")
    show.add_argument("record_id", metavar="ID")
    add_archive_option(show)
    show.set_defaults(func=cmd_show)

    verify = commands.add_parser(
        "verify", help="check the archive for tampering",
        description="Check every record against its hash and the ledger; exit 1 on any finding.",
    )
    verify.add_argument("--skip-media", action="store_true", help="do not re-hash media bytes")
    add_archive_option(verify)
    verify.set_defaults(func=cmd_verify)

    add_pending_command(commands)

    stats = commands.add_parser("stats", help="counts by kind, platform, direction")
    add_archive_option(stats)
    stats.set_defaults(func=cmd_stats)


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conversation", help="a conversation id (wa:PHONE_NUMBER_ID:WA_ID)")
    parser.add_argument("--participant", help="a phone number, wa_id, Entra object id or UPN")
    parser.add_argument("--since", help="from this date/time (YYYY-MM, YYYY-MM-DD or RFC 3339)")
    parser.add_argument("--until", help="before this date/time (a date includes that whole day)")
    parser.add_argument("--text", help="words that must all occur in the text")
    parser.add_argument("--platform", choices=PLATFORMS)
    parser.add_argument("--kind", choices=KINDS)
    parser.add_argument("--direction", choices=("inbound", "outbound", "internal"))
    parser.add_argument("--flag", help="records carrying a policy finding of this rule or action")


def query_from_args(args: argparse.Namespace) -> RecordQuery:
    try:
        since = parse_time_bound(args.since) if args.since else None
        until = parse_time_bound(args.until, end=True) if args.until else None
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return RecordQuery(
        conversation=args.conversation, participant=args.participant, since=since, until=until,
        text=args.text, platform=args.platform, kind=args.kind, direction=args.direction,
        flag=args.flag,
    )


async def select_records(archive: Archive, query: RecordQuery) -> list[tuple[dict, bytes]]:
    """Every record the query selects, sorted by time, as ``(dict, stored bytes)``."""
    found = []
    async for _name, data in archive.iter_records():
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        if matches(doc, query):
            found.append((doc, data))
    found.sort(key=lambda item: sort_key(item[0]))
    return found


def cmd_search(args: argparse.Namespace) -> int:
    query = query_from_args(args)
    if args.limit is not None and args.limit < 0:
        raise CliError("--limit must not be negative")

    async def body(archive: Archive) -> list[tuple[dict, bytes]]:
        return await select_records(archive, query)

    results = run_with_archive(args, body)
    if args.limit is not None:
        results = results[: args.limit]
    out = sys.stdout
    if args.json:
        for _doc, data in results:
            out.write(data.decode("utf-8") + "\n")
        return 0
    for doc, _data in results:
        sender = (doc.get("sender") or {}).get("name") or (doc.get("sender") or {}).get("id") or "-"
        text = (doc.get("text") or "").replace("\n", " ")
        if len(text) > 60:
            text = text[:57] + "..."
        out.write(
            f"{doc['sent_at'][:19]}  {doc['id']}  {doc['platform']:<8} {doc['direction']:<8} "
            f"{doc['kind']:<8} {str(sender)[:24]:<24} {text}\n"
        )
    out.write(f"{len(results)} record(s)\n")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    async def body(archive: Archive):
        return await archive.find(args.record_id)

    try:
        record = run_with_archive(args, body)
    except CliError as exc:
        if isinstance(exc.__cause__, RecordNotFound):
            raise CliError(f"no record with id {args.record_id}", exit_code=1) from exc
        raise
    print(json.dumps(record.to_dict(), indent=2, ensure_ascii=False, sort_keys=True))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    async def body(archive: Archive):
        return await verify_archive(archive, check_media=not args.skip_media)

    report = run_with_archive(args, body)
    for problem in report.problems:
        print(problem.line())
    for warning in report.warnings:
        print("warning: " + warning.line())
    summary = (
        f"{report.records} records, {report.ledger_entries} ledger entries in {report.segments} "
        f"segments, {report.media_checked} media checked"
    )
    if report.ok:
        print(f"verify OK: {summary}")
        return 0
    print(f"verify FAILED: {len(report.problems)} problem(s); {summary}")
    return 1


def cmd_stats(args: argparse.Namespace) -> int:
    async def body(archive: Archive):
        kinds: Counter[str] = Counter()
        platforms: Counter[str] = Counter()
        directions: Counter[str] = Counter()
        conversations: set[str] = set()
        first = last = None
        total = 0
        async for _name, data in archive.iter_records():
            doc = json.loads(data)
            total += 1
            kinds[doc["kind"]] += 1
            platforms[doc["platform"]] += 1
            directions[doc["direction"]] += 1
            if doc.get("conversation"):
                conversations.add(doc["conversation"])
            first = doc["sent_at"] if first is None or doc["sent_at"] < first else first
            last = doc["sent_at"] if last is None or doc["sent_at"] > last else last
        return total, kinds, platforms, directions, conversations, first, last

    total, kinds, platforms, directions, conversations, first, last = run_with_archive(args, body)
    print(f"records: {total}")
    print(f"conversations: {len(conversations)}")
    print(f"first: {first or '-'}  last: {last or '-'}")
    for label, counter in (("kind", kinds), ("platform", platforms), ("direction", directions)):
        print(f"by {label}: " + (", ".join(f"{k}={v}" for k, v in sorted(counter.items())) or "-"))
    return 0
