"""``wabridge archive pending``: media named by records but not (yet) fetched into the archive."""

from __future__ import annotations

import argparse

from bot.cli.common import add_archive_option, run_with_archive
from bridge.archive import Archive


def add_pending_command(commands: argparse._SubParsersAction) -> None:
    """Register ``pending`` under ``wabridge archive``."""
    pending = commands.add_parser(
        "pending",
        help="list media still waiting to be fetched",
        description="List the WhatsApp media the service is still fetching or retrying "
        "(hash, media id, record, attempts, last error). `archive verify` re-checks every "
        "stored media file against its hash.",
    )
    pending.add_argument("--json", action="store_true", help="one JSON object per line")
    add_archive_option(pending)
    pending.set_defaults(func=cmd_pending)


def cmd_pending(args: argparse.Namespace) -> int:
    from bot.whatsapp.media import list_pending

    async def body(archive: Archive):
        return await list_pending(archive.store)

    items = run_with_archive(args, body)
    for item in items:
        if args.json:
            print(item.to_json().decode("utf-8"))
            continue
        mismatch = f" mismatches={item.mismatches}" if item.mismatches else ""
        print(
            f"PENDING sha256={item.sha256 or '-'} media_id={item.media_id} "
            f"record={item.record_id} attempts={item.attempts}{mismatch} "
            f"next={item.next_attempt_at or '-'} last_error={item.last_error or '-'}"
        )
    if not args.json:
        print(f"{len(items)} media pending")
    return 0
