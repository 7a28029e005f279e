"""``wabridge archive …``: search, show, export, hold, retention, stats and reindex (``verify``
and ``checkpoint`` are in :mod:`bot.cli.anchor_cmds`).

Arguments are parsed and results printed here; the audited operations themselves are
:class:`bridge.readside.reads.Reader`'s: every read of records (search, show, export, stats,
retention) and every hold change writes an ``audit`` record naming who did it (``--as UPN``,
else the operating-system user).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bot.cli.anchor_cmds import add_checkpoint_command, add_verify_command
from bot.cli.common import CliError, add_archive_option, archive_settings, run_with_archive
from bot.cli.pending_cmd import add_pending_command
from bot.cli.progress import ProgressBar
from bridge.archive import Archive
from bridge.readside.audit import actor_party, check_upn
from bridge.readside.export import FORMATS, ExportError, ExportOptions
from bridge.readside.index import ArchiveIndex, IndexUnusable
from bridge.readside.query import RecordQuery, parse_time_bound
from bridge.readside.reads import Reader
from bridge.readside.retention import DEFAULT_RETENTION_DAYS, retention_cutoff
from bridge.record import KINDS, PLATFORMS, Party

T = TypeVar("T")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "archive", help="search, export, hold, verify and report on the archive"
    )
    commands = parser.add_subparsers(dest="archive_command", metavar="ACTION")
    commands.required = True

    search = commands.add_parser(
        "search",
        help="find records",
        description="Find records, sorted by time; every filter is optional (none: everything).",
    )
    add_selection_options(search)
    search.add_argument(
        "--json", action="store_true", help="one canonical record per line, as stored"
    )
    search.add_argument("--limit", type=int, help="at most this many records (a page)")
    search.add_argument("--offset", type=int, default=0, help="skip this many records first")
    search.add_argument(
        "--no-index",
        action="store_true",
        help="scan the records instead of using the index (slow; for checking)",
    )
    add_reader_options(search)
    search.set_defaults(func=cmd_search)

    show = commands.add_parser(
        "show", help="print one record", description="Print one record by id."
    )
    show.add_argument("record_id", metavar="ID")
    add_reader_options(show)
    show.set_defaults(func=cmd_show)

    export = commands.add_parser(
        "export",
        help="export records as EML, HTML, JSONL or RSMF",
        description="Export the selected records (none selected: everything) into --out, with a "
        "manifest (manifest.json, SHA256SUMS) of every file written. rsmf: one Relativity Short "
        "Message Format 2.0 file per conversation and day, each checked once written.",
    )
    add_selection_options(export)
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("--out", required=True, metavar="DIR", help="a new or empty directory")
    export.add_argument(
        "--tz",
        metavar="ZONE",
        help="show times in this IANA zone, e.g. Europe/London (default: this machine's zone)",
    )
    export.add_argument(
        "--business-name",
        metavar="NAME",
        help="the firm's name, shown for its WhatsApp business number (default: the number)",
    )
    add_reader_options(export)
    export.set_defaults(func=cmd_export)

    hold = commands.add_parser("hold", help="legal holds: set, clear, list")
    holds = hold.add_subparsers(dest="hold_command", metavar="ACTION")
    holds.required = True
    for action, helptext in (
        ("set", "put records on hold for a case"),
        ("clear", "release a case's hold"),
        ("list", "show the holds"),
    ):
        p = holds.add_parser(action, help=helptext, description=helptext.capitalize() + ".")
        p.add_argument("--case", required=action != "list", help="the case (matter) name")
        p.add_argument("--conversation", help="a conversation id (wa:PHONE_NUMBER_ID:WA_ID)")
        p.add_argument("--participant", help="a phone number, wa_id, Entra object id or UPN")
        if action == "list":
            p.add_argument("--all", action="store_true", help="also cleared holds")
        add_reader_options(p)
        p.set_defaults(
            func={"set": cmd_hold_set, "clear": cmd_hold_clear, "list": cmd_hold_list}[action]
        )

    retention = commands.add_parser(
        "retention",
        help="report records past the retention period and not on hold",
        description="Report what is past the retention period and on no hold. Deletes nothing.",
    )
    retention.add_argument(
        "--days",
        type=int,
        default=DEFAULT_RETENTION_DAYS,
        help=f"the retention period in days (default {DEFAULT_RETENTION_DAYS})",
    )
    retention.add_argument("--list", metavar="FILE", help="write the eligible record names to FILE")
    add_reader_options(retention)
    retention.set_defaults(func=cmd_retention)

    add_verify_command(commands)
    add_checkpoint_command(commands)
    add_pending_command(commands)

    stats = commands.add_parser("stats", help="counts by kind, platform, direction")
    add_reader_options(stats)
    stats.set_defaults(func=cmd_stats)

    reindex = commands.add_parser(
        "reindex",
        help="rebuild the search index from the records alone",
        description="Rebuild the search index from the records (the ledger is not needed).",
    )
    add_index_option(reindex)
    add_archive_option(reindex)
    reindex.set_defaults(func=cmd_reindex)


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conversation", help="a conversation id (wa:PHONE_NUMBER_ID:WA_ID)")
    parser.add_argument(
        "--participant", help="a phone number (any common form), wa_id, Entra object id or UPN"
    )
    parser.add_argument("--since", help="from this date/time (YYYY-MM, YYYY-MM-DD or RFC 3339)")
    parser.add_argument("--until", help="before this date/time (a date includes that whole day)")
    parser.add_argument("--text", help="words that must all occur (word* for a prefix)")
    parser.add_argument("--platform", choices=PLATFORMS)
    parser.add_argument("--kind", choices=KINDS)
    parser.add_argument("--direction", choices=("inbound", "outbound", "internal"))
    parser.add_argument("--flag", help="records carrying a policy finding of this rule or action")


def add_index_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--index",
        metavar="PATH",
        help="the search index file (default: .index/ in a local archive, a per-archive cache "
        "file under WABRIDGE_INDEX_DIR or ~/.cache/wabridge/index for Azure)",
    )


def add_reader_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as",
        dest="as_upn",
        metavar="UPN",
        help="who is reading, for the audit record (default: the OS user)",
    )
    add_index_option(parser)
    add_archive_option(parser)


def query_from_args(args: argparse.Namespace) -> RecordQuery:
    try:
        since = parse_time_bound(args.since) if args.since else None
        until = parse_time_bound(args.until, end=True) if args.until else None
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.text is not None and not args.text.strip():
        raise CliError("--text needs at least one word")
    return RecordQuery(
        conversation=args.conversation,
        participant=args.participant,
        since=since,
        until=until,
        text=args.text,
        platform=args.platform,
        kind=args.kind,
        direction=args.direction,
        flag=args.flag,
    )


def _actor(args: argparse.Namespace) -> Party:
    try:
        return actor_party(getattr(args, "as_upn", None))
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def run_reader(args: argparse.Namespace, body: Callable[[Reader], Awaitable[T]]) -> T:
    """Run ``body`` with an audited :class:`Reader` of the archive and its index."""
    actor = _actor(args)

    async def go(archive: Archive) -> T:
        try:
            index = ArchiveIndex.for_archive(
                archive, getattr(args, "index", None), cache_dir=archive_settings(args).index_dir
            )
        except IndexUnusable as exc:
            raise CliError(str(exc)) from exc
        try:
            return await body(Reader(archive, index, actor))
        finally:
            index.close()

    return run_with_archive(args, go)


def _table_line(doc: dict) -> str:
    sender = (doc.get("sender") or {}).get("name") or (doc.get("sender") or {}).get("id") or "-"
    text = (doc.get("text") or "").replace("\n", " ")
    if len(text) > 60:
        text = text[:57] + "..."
    return (
        f"{doc['sent_at'][:19]}  {doc['id']}  {doc['platform']:<8} {doc['direction']:<8} "
        f"{doc['kind']:<8} {str(sender)[:24]:<24} {text}\n"
    )


def cmd_search(args: argparse.Namespace) -> int:
    query = query_from_args(args)
    if args.limit is not None and args.limit < 0:
        raise CliError("--limit must not be negative")
    if args.offset < 0:
        raise CliError("--offset must not be negative")
    out = sys.stdout

    def emit(doc: dict, data: bytes) -> None:
        out.write(data.decode("utf-8") + "\n" if args.json else _table_line(doc))

    def missing(hit) -> None:
        print(
            f"wabridge: record {hit.id} ({hit.name}) is missing from the archive; "
            "run 'wabridge archive verify'",
            file=sys.stderr,
        )

    async def body(reader: Reader) -> None:
        result = await reader.search(
            query,
            emit,
            limit=args.limit,
            offset=args.offset,
            scan=args.no_index,
            missing=missing,
        )
        if result.reader_gone:
            # The reader went away (| head): what it read is audited; nothing more is written.
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
            return
        try:
            if not args.json:
                paged = args.limit is not None or args.offset
                footer = f" of {result.total} (from {args.offset})" if paged else ""
                out.write(f"{result.shown} record(s){footer}\n")
            out.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())

    run_reader(args, body)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    record = run_reader(args, lambda reader: reader.show(args.record_id))
    if record is None:
        raise CliError(f"no record with id {args.record_id}", exit_code=1)
    print(json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    query = query_from_args(args)
    out = Path(args.out).expanduser().absolute()
    bar = ProgressBar(f"export {args.format}")
    options = ExportOptions(tz=args.tz, business_name=args.business_name)

    async def body(reader: Reader):
        try:
            return await reader.export(query, args.format, out, progress=bar, options=options)
        except ExportError as exc:
            raise CliError(str(exc)) from exc
        finally:
            bar.close()

    result = run_reader(args, body)
    print(
        f"exported {result.records} record(s) as {args.format} to {out}: {result.files} file(s), "
        f"manifest {out / 'manifest.json'}"
    )
    if result.missing_media:
        print(
            f"note: {len(result.missing_media)} media file(s) not (yet) in the archive; "
            "listed in the manifest under media_missing"
        )
    if result.altered_media:
        print(
            f"WARNING: {len(result.altered_media)} media file(s) do not match their sha256 and "
            "were left out; run 'wabridge archive verify'"
        )
    if result.unreadable:
        print(
            f"WARNING: {len(result.unreadable)} record(s) in the index are missing from the "
            "archive; run 'wabridge archive verify'"
        )
    if result.not_rendered:
        print(
            f"WARNING: {len(result.not_rendered)} record(s) could not be rendered; copied as "
            "stored under unrendered/ and listed in the manifest (records_not_rendered)"
        )
    if result.rsmf_problems:
        for problem in result.rsmf_problems:
            print(f"RSMF check: {problem}", file=sys.stderr)
        raise CliError(
            f"{len(result.rsmf_problems)} RSMF problem(s) in the files written (listed above "
            "and in the manifest under rsmf_problems)",
            exit_code=1,
        )
    return 0


def _hold_scope(args: argparse.Namespace, *, required: bool) -> None:
    given = [x for x in (args.conversation, args.participant) if x]
    if len(given) > 1:
        raise CliError("give either --conversation or --participant, not both")
    if required and not given:
        raise CliError("a hold needs --conversation or --participant")


def cmd_hold_set(args: argparse.Namespace) -> int:
    _hold_scope(args, required=True)
    result = run_reader(
        args,
        lambda reader: reader.set_hold(
            args.case, conversation=args.conversation, participant=args.participant
        ),
    )
    hold = result.hold
    print(
        f"hold {hold.id} set for case {hold.case!r} on {hold.scope()}: {result.records} "
        "record(s) now, and every later record of that scope"
    )
    _print_storage(result.storage, "set")
    return 0


def _print_storage(storage, verb: str) -> None:
    if storage.unsupported:
        print(
            f"storage legal hold: not available here ({storage.unsupported}); "
            "the application-level hold is in force and every deletion or retention job honours it"
        )
    else:
        print(f"storage legal hold: {verb} on {storage.blobs} blob(s)")


def cmd_hold_clear(args: argparse.Namespace) -> int:
    _hold_scope(args, required=False)
    result = run_reader(
        args,
        lambda reader: reader.clear_hold(
            args.case, conversation=args.conversation, participant=args.participant
        ),
    )
    if not result.holds:
        raise CliError(f"no active hold of case {args.case!r} matches", exit_code=1)
    for hold in result.holds:
        print(f"hold {hold.id} of case {hold.case!r} on {hold.scope()} cleared")
    print(f"{result.released} record(s) no longer on any hold")
    if result.storage is not None:
        _print_storage(result.storage, "lifted")
    return 0


def cmd_hold_list(args: argparse.Namespace) -> int:
    holds = run_reader(
        args,
        lambda reader: reader.list_holds(
            include_cleared=args.all,
            case=args.case,
            conversation=args.conversation,
            participant=args.participant,
        ),
    )
    for hold in holds:
        state = "active" if hold.active else f"cleared {hold.cleared_at} by {hold.cleared_by}"
        print(
            f"{hold.id}  case={hold.case}  {hold.scope()}  "
            f"set {hold.created_at} by {hold.created_by}  {state}"
        )
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    try:
        cutoff = retention_cutoff(args.days)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    report = run_reader(args, lambda reader: reader.retention(cutoff))
    print(f"retention period: {args.days} days; records sent before {report.cutoff}: {report.past}")
    print(
        f"on hold: {report.held}"
        + "".join(f"; case {c}: {n}" for c, n in sorted(report.held_by_case.items()))
    )
    print(f"past retention and on no hold: {len(report.eligible)} (nothing was deleted)")
    if args.list:
        Path(args.list).write_text("".join(n + "\n" for n in report.eligible))
        print(f"eligible record names written to {args.list}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    stats = run_reader(args, lambda reader: reader.stats())
    print(f"records: {stats['records']}")
    print(f"conversations: {stats['conversations']}")
    print(f"first: {stats['first'] or '-'}  last: {stats['last'] or '-'}")
    for label in ("kind", "platform", "direction"):
        counter = stats[label]
        print(f"by {label}: " + (", ".join(f"{k}={v}" for k, v in sorted(counter.items())) or "-"))
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    bar = ProgressBar("reindex")

    async def body(reader: Reader):
        started = time.perf_counter()
        try:
            total = await reader.index.rebuild(reader.archive, progress=bar)
        finally:
            bar.close()
        return total, time.perf_counter() - started, reader.index.path

    total, elapsed, path = run_reader(args, body)
    print(f"reindexed {total} record(s) in {elapsed:.1f} s into {path}")
    return 0


__all__ = ["register", "check_upn"]
