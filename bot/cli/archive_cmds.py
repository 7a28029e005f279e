"""``wabridge archive …``: search, show, export, hold, retention, verify, stats and reindex.

Every read of records (search, show, export, stats, retention) and every hold change writes an
``audit`` record naming who did it (``--as UPN``, else the operating-system user) — after the
read, so a search never returns its own audit.
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

from bot.cli.common import CliError, add_archive_option, run_with_archive
from bot.cli.pending_cmd import add_pending_command
from bot.cli.progress import ProgressBar
from bridge.archive import Archive
from bridge.errors import RecordNotFound
from bridge.readside.audit import actor_party, audit_record, check_upn, write_audit
from bridge.readside.export import FORMATS, ExportError, export_selection
from bridge.readside.hold import HoldRegistry, blobs_of, is_held, set_storage_hold
from bridge.readside.index import ArchiveIndex, IndexUnusable, iter_selection, read_hits
from bridge.readside.query import RecordQuery, parse_time_bound
from bridge.readside.retention import DEFAULT_RETENTION_DAYS, retention_cutoff, retention_report
from bridge.readside.scan import scan_select
from bridge.record import KINDS, PLATFORMS, Party
from bridge.verify import verify_archive

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
        help="export records as EML, HTML or JSONL",
        description="Export the selected records (none selected: everything) into --out, with a "
        "manifest (manifest.json, SHA256SUMS) of every file written.",
    )
    add_selection_options(export)
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("--out", required=True, metavar="DIR", help="a new or empty directory")
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

    verify = commands.add_parser(
        "verify",
        help="check the archive for tampering",
        description="Check every record against its hash and the ledger; exit 1 on any finding.",
    )
    verify.add_argument("--skip-media", action="store_true", help="do not re-hash media bytes")
    add_archive_option(verify)
    verify.set_defaults(func=cmd_verify)

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


def run_reader(
    args: argparse.Namespace, body: Callable[[Archive, ArchiveIndex], Awaitable[T]]
) -> T:
    """Run ``body`` with the archive and its index (kept in step first by the callers)."""

    async def go(archive: Archive) -> T:
        try:
            index = ArchiveIndex.for_archive(archive, getattr(args, "index", None))
        except IndexUnusable as exc:
            raise CliError(str(exc)) from exc
        try:
            return await body(archive, index)
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
    actor = _actor(args)
    if args.limit is not None and args.limit < 0:
        raise CliError("--limit must not be negative")
    if args.offset < 0:
        raise CliError("--offset must not be negative")
    out = sys.stdout

    async def body(archive: Archive, index: ArchiveIndex) -> None:
        shown = 0
        try:
            if args.no_index:
                found = await scan_select(archive, query)
                total = len(found)
                end = None if args.limit is None else args.offset + args.limit
                for doc, data in found[args.offset : end]:
                    out.write(data.decode("utf-8") + "\n" if args.json else _table_line(doc))
                    shown += 1
            else:
                await index.refresh(archive)
                total = index.count(query)
                async for hit, data in iter_selection(
                    archive, index, query, limit=args.limit, offset=args.offset
                ):
                    if data is None:
                        print(
                            f"wabridge: record {hit.id} ({hit.name}) is missing from the "
                            "archive; run 'wabridge archive verify'",
                            file=sys.stderr,
                        )
                        continue
                    line = (
                        data.decode("utf-8") + "\n" if args.json else _table_line(json.loads(data))
                    )
                    out.write(line)
                    shown += 1
            if not args.json:
                paged = args.limit is not None or args.offset
                footer = f" of {total} (from {args.offset})" if paged else ""
                out.write(f"{shown} record(s){footer}\n")
            out.flush()
        except BrokenPipeError:
            # The reader went away (| head): what was read is still audited below.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
            total = shown
        await write_audit(
            archive,
            audit_record(
                actor,
                "search",
                query=query.describe(),
                count=shown,
                total=total,
                limit=args.limit,
                offset=args.offset or None,
            ),
        )

    run_reader(args, body)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    actor = _actor(args)

    async def body(archive: Archive, index: ArchiveIndex):
        await index.refresh(archive)
        name = index.name_of(args.record_id)
        record = None
        try:
            if name is not None:
                record = json.loads(await archive.store.read(name))
            else:
                record = (await archive.find(args.record_id)).to_dict()
        except RecordNotFound:
            record = None
        await write_audit(
            archive,
            audit_record(
                actor,
                "show",
                query={"id": args.record_id},
                count=0 if record is None else 1,
            ),
        )
        return record

    record = run_reader(args, body)
    if record is None:
        raise CliError(f"no record with id {args.record_id}", exit_code=1)
    print(json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    query = query_from_args(args)
    actor = _actor(args)
    out = Path(args.out).expanduser().absolute()
    bar = ProgressBar(f"export {args.format}")

    async def body(archive: Archive, index: ArchiveIndex):
        try:
            result = await export_selection(
                archive,
                index,
                query,
                args.format,
                out,
                actor=actor.to_dict(),
                progress=bar,
            )
        except ExportError as exc:
            raise CliError(str(exc)) from exc
        finally:
            bar.close()
        await write_audit(
            archive,
            audit_record(
                actor,
                "export",
                query=query.describe(),
                count=result.records,
                export_path=str(out),
                format=args.format,
                files=result.files,
                media_missing=sorted(result.missing_media) or None,
            ),
        )
        return result

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
    return 0


def _hold_scope(args: argparse.Namespace, *, required: bool) -> None:
    given = [x for x in (args.conversation, args.participant) if x]
    if len(given) > 1:
        raise CliError("give either --conversation or --participant, not both")
    if required and not given:
        raise CliError("a hold needs --conversation or --participant")


def cmd_hold_set(args: argparse.Namespace) -> int:
    _hold_scope(args, required=True)
    actor = _actor(args)

    async def body(archive: Archive, index: ArchiveIndex):
        hold = await HoldRegistry(archive).add(
            args.case,
            conversation=args.conversation,
            participant=args.participant,
            by=actor.id,
        )
        await index.refresh(archive)
        scope = RecordQuery(conversation=args.conversation, participant=args.participant)
        docs = [
            (h.name, json.loads(d)) for h, d in await read_hits(archive, index.search(scope)) if d
        ]
        storage = await set_storage_hold(archive, blobs_of(docs), True)
        await write_audit(
            archive,
            audit_record(
                actor,
                "hold-set",
                query=scope.describe(),
                count=len(docs),
                case=args.case,
                hold_id=hold.id,
                storage_hold_blobs=storage.blobs,
                storage_hold_unsupported=storage.unsupported,
            ),
        )
        return hold, len(docs), storage

    hold, count, storage = run_reader(args, body)
    print(
        f"hold {hold.id} set for case {hold.case!r} on {hold.scope()}: {count} record(s) now, "
        "and every later record of that scope"
    )
    _print_storage(storage, "set")
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
    actor = _actor(args)

    async def body(archive: Archive, index: ArchiveIndex):
        registry = HoldRegistry(archive)
        cleared = await registry.clear(
            args.case,
            conversation=args.conversation,
            participant=args.participant,
            by=actor.id,
        )
        remaining = await registry.active()
        await index.refresh(archive)
        docs = []
        for hold in cleared:
            scope = RecordQuery(conversation=hold.conversation, participant=hold.participant)
            docs += [
                (h.name, json.loads(d))
                for h, d in await read_hits(archive, index.search(scope))
                if d
            ]
        free = [(n, d) for n, d in docs if not is_held(d, remaining)]
        storage = await set_storage_hold(archive, blobs_of(free), False) if free else None
        await write_audit(
            archive,
            audit_record(
                actor,
                "hold-clear",
                query={"case": args.case},
                count=len(free),
                case=args.case,
                holds=[h.id for h in cleared],
            ),
        )
        return cleared, len(free), storage

    cleared, released, storage = run_reader(args, body)
    if not cleared:
        raise CliError(f"no active hold of case {args.case!r} matches", exit_code=1)
    for hold in cleared:
        print(f"hold {hold.id} of case {hold.case!r} on {hold.scope()} cleared")
    print(f"{released} record(s) no longer on any hold")
    if storage is not None:
        _print_storage(storage, "lifted")
    return 0


def cmd_hold_list(args: argparse.Namespace) -> int:
    actor = _actor(args)

    async def body(archive: Archive, index: ArchiveIndex):
        holds = await HoldRegistry(archive).all()
        shown = [
            h
            for h in holds
            if (args.all or h.active)
            and (args.case is None or h.case == args.case)
            and (args.conversation is None or h.conversation == args.conversation)
            and (args.participant is None or h.participant == args.participant)
        ]
        await write_audit(
            archive,
            audit_record(actor, "hold-list", query={"all": bool(args.all)}, count=len(shown)),
        )
        return shown

    for hold in run_reader(args, body):
        state = "active" if hold.active else f"cleared {hold.cleared_at} by {hold.cleared_by}"
        print(
            f"{hold.id}  case={hold.case}  {hold.scope()}  "
            f"set {hold.created_at} by {hold.created_by}  {state}"
        )
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    actor = _actor(args)
    try:
        cutoff = retention_cutoff(args.days)
    except ValueError as exc:
        raise CliError(str(exc)) from exc

    async def body(archive: Archive, index: ArchiveIndex):
        report = await retention_report(archive, index, cutoff=cutoff)
        await write_audit(
            archive,
            audit_record(
                actor,
                "retention",
                query={"until": cutoff},
                count=len(report.eligible),
                past=report.past,
                held=report.held,
            ),
        )
        return report

    report = run_reader(args, body)
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
    actor = _actor(args)

    async def body(archive: Archive, index: ArchiveIndex):
        await index.refresh(archive)
        stats = index.stats()
        await write_audit(archive, audit_record(actor, "stats", query={}, count=stats["records"]))
        return stats

    stats = run_reader(args, body)
    print(f"records: {stats['records']}")
    print(f"conversations: {stats['conversations']}")
    print(f"first: {stats['first'] or '-'}  last: {stats['last'] or '-'}")
    for label in ("kind", "platform", "direction"):
        counter = stats[label]
        print(f"by {label}: " + (", ".join(f"{k}={v}" for k, v in sorted(counter.items())) or "-"))
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    bar = ProgressBar("reindex")

    async def body(archive: Archive, index: ArchiveIndex):
        started = time.perf_counter()
        try:
            total = await index.rebuild(archive, progress=bar)
        finally:
            bar.close()
        return total, time.perf_counter() - started, index.path

    total, elapsed, path = run_reader(args, body)
    print(f"reindexed {total} record(s) in {elapsed:.1f} s into {path}")
    return 0


__all__ = ["register", "check_upn"]
