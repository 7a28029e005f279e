"""``wabridge demo``: a conversation both ways through the real service, then search and verify."""

from __future__ import annotations

import argparse
import tempfile

from bot.cli.common import CliError, add_archive_option


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="play a WhatsApp <-> Teams conversation locally and show the archive",
        description="Start the service on a local archive with loopback stand-ins for Meta's "
        "Graph API and the Teams Bot Connector, play a short conversation both ways "
        "(text, an image, a reply, delivery and read statuses), then print "
        "`archive search` and `archive verify`. Needs no account or network.",
    )
    add_archive_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot.cli import main as cli_main
    from bot.demo.run import run as play

    archive = args.archive or tempfile.mkdtemp(prefix="wabridge-demo-")
    if "://" in archive:
        raise CliError("wabridge demo runs on a local archive directory; give --archive DIR")
    try:
        play(archive)
    except (RuntimeError, OSError) as exc:
        raise CliError(f"demo failed: {exc}") from exc
    print()
    print(f"$ wabridge archive search --archive {archive}")
    cli_main(["archive", "search", "--archive", archive])
    print()
    print(f"$ wabridge archive verify --archive {archive}")
    return cli_main(["archive", "verify", "--archive", archive])
