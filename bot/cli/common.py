"""Helpers shared by the CLI commands: archive options, errors, running coroutines."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.settings import ArchiveSettings, ConfigError, load_environment
from bridge.archive import Archive
from bridge.errors import ArchiveError

T = TypeVar("T")


class CliError(Exception):
    """A one-line reason to print before exiting non-zero."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad arguments: one line naming the problem, exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_archive_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive",
        metavar="URL_OR_DIR",
        help="archive location, overriding ARCHIVE_URL (a directory or an Azure container URL)",
    )


def archive_settings(args: argparse.Namespace) -> ArchiveSettings:
    """The archive's configuration: the environment (and ``.env``), ``--archive`` over it."""
    try:
        return ArchiveSettings.from_env(load_environment(), getattr(args, "archive", None))
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


def open_archive(args: argparse.Namespace) -> Archive:
    try:
        return Archive(archive_settings(args).open_store())
    except (ConfigError, ValueError) as exc:
        raise CliError(str(exc)) from exc


def run_with_archive(args: argparse.Namespace, body: Callable[[Archive], Awaitable[T]]) -> T:
    """Open the archive, run ``body`` and close it, turning archive errors into one line."""

    async def go() -> T:
        archive = open_archive(args)
        try:
            return await body(archive)
        finally:
            await archive.close()

    try:
        return asyncio.run(go())
    except ArchiveError as exc:
        raise CliError(f"archive error: {exc}", exit_code=3) from exc
