"""``wabridge archive pending``: media named by records but not (yet) fetched into the archive,
and (in the text view) what has not reached Teams yet."""

from __future__ import annotations

import argparse
import time

from bot.cli.common import add_archive_option, run_with_archive
from bridge.archive import Archive


def add_pending_command(commands: argparse._SubParsersAction) -> None:
    """Register ``pending`` under ``wabridge archive``."""
    pending = commands.add_parser(
        "pending",
        help="list media still waiting to be fetched, and what has not reached Teams yet",
        description="List the WhatsApp media the service is still fetching or retrying "
        "(hash, media id, record, attempts, last error). `archive verify` re-checks every "
        "stored media file against its hash. The text view also says how much of the archive "
        "the relay has not shown in Teams yet: whether an inbox is bound, the ledger not yet "
        "followed, and the records parked per contact for a retry. --json prints the media "
        "items only.",
    )
    pending.add_argument("--json", action="store_true", help="one JSON object per line")
    add_archive_option(pending)
    pending.set_defaults(func=cmd_pending)


def cmd_pending(args: argparse.Namespace) -> int:
    from bot.capture.media import list_pending
    from bot.relay.backlog import relay_backlog

    async def body(archive: Archive):
        return await list_pending(archive.store), await relay_backlog(archive.store)

    items, relay = run_with_archive(args, body)
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
        print_relay(relay)
    return 0


def print_relay(relay) -> None:
    holder = ""
    if relay.lease_owner and relay.lease_until and relay.lease_until > time.time():
        holder = f" followed_by={relay.lease_owner}"
    inbox = "bound" if relay.inbox_bound else "none (records wait until `setup` in a channel)"
    print(f"RELAY inbox={inbox} ledger_not_followed={relay.ledger_bytes_behind} bytes{holder}")
    for item in relay.parked:
        print(
            f"RELAY-PARKED conversation={item.conversation} record={item.record_id} "
            f"attempts={item.attempts}"
        )
    print(f"{len(relay.parked)} record(s) parked for Teams")
