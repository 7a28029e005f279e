"""``wabridge``: the command line of the service, the archive and the admin tasks."""

from __future__ import annotations

import argparse
import sys

from bot.cli import (
    archive_cmds,
    contacts_cmds,
    demo_cmd,
    manifest_cmds,
    policy_cmds,
    serve_cmd,
    users_cmds,
)
from bot.cli.common import CliError, OneLineErrorParser

#: Each module adds its sub-commands with ``register(subparsers)``.
COMMAND_MODULES = [
    serve_cmd,
    demo_cmd,
    archive_cmds,
    users_cmds,
    contacts_cmds,
    policy_cmds,
    manifest_cmds,
]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="wabridge",
        description="WhatsApp <-> Microsoft Teams compliance bridge and archive.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineErrorParser)
    sub.required = True
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"wabridge: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
