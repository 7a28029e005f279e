"""``wabridge archive verify`` and ``archive checkpoint``: tamper evidence that does not vouch
for itself (DESIGN.md §3.8).

Arguments are parsed and results printed here; the checks are :mod:`bridge.verify`'s and
:mod:`bridge.anchor`'s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.common import CliError, add_archive_option, archive_settings, run_with_archive
from bridge.anchor.checkpoint import Checkpoint
from bridge.anchor.store import AnchorStore
from bridge.anchor.writer import NoArchive, checkpoint_now
from bridge.archive import Archive
from bridge.readside.audit import actor_party
from bridge.verify import verify_archive


def add_anchor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--anchor",
        metavar="URL_OR_DIR",
        help="where checkpoints are kept, overriding WABRIDGE_ANCHOR_URL (an Azure container URL "
        "or a directory outside the archive)",
    )


def add_verify_command(commands: argparse._SubParsersAction) -> None:
    """Register ``verify`` under ``wabridge archive``."""
    verify = commands.add_parser(
        "verify",
        help="check the archive for tampering",
        description="Check every record against its hash and the ledger, and the ledger against "
        "every checkpoint in the anchor (WABRIDGE_ANCHOR_URL or --anchor) and each --checkpoint "
        "FILE; report what protects the bytes in Azure; exit 1 on any finding.",
    )
    verify.add_argument("--skip-media", action="store_true", help="do not re-hash media bytes")
    add_anchor_option(verify)
    verify.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="also check against this checkpoint file, kept outside the archive (repeatable)",
    )
    add_archive_option(verify)
    verify.set_defaults(func=cmd_verify)


def add_checkpoint_command(commands: argparse._SubParsersAction) -> None:
    """Register ``checkpoint`` under ``wabridge archive``."""
    checkpoint = commands.add_parser(
        "checkpoint",
        help="anchor the ledger's current state outside the archive",
        description="Write a checkpoint of the ledger (the archive's id, the time, each "
        "segment's length and head hash, itself hashed) into the anchor (WABRIDGE_ANCHOR_URL "
        "or --anchor), or with --out into a new file to keep elsewhere. 'archive verify' "
        "checks the archive against it.",
    )
    checkpoint.add_argument("--out", metavar="FILE", help="write it to this new file instead")
    add_anchor_option(checkpoint)
    add_archive_option(checkpoint)
    checkpoint.set_defaults(func=cmd_checkpoint)


def open_anchor_for(args: argparse.Namespace, archive: Archive) -> AnchorStore | None:
    """The anchor of ``--anchor`` or the configuration; a bad one is a one-line error."""
    settings = archive_settings(args)
    try:
        return settings.open_anchor(archive.store, getattr(args, "anchor", None))
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def checkpoint_files(args: argparse.Namespace) -> list[Path]:
    files = [Path(p).expanduser() for p in getattr(args, "checkpoint", None) or ()]
    for path in files:
        if not path.is_file():
            raise CliError(f"--checkpoint {path}: no such file")
    return files


def cmd_checkpoint(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser().absolute() if args.out else None
    if out is not None and (out.exists() or not out.parent.is_dir()):
        raise CliError(
            f"--out {out}: " + ("exists already" if out.exists() else "no such directory")
        )
    writer = f"wabridge archive checkpoint by {actor_party(None).id}"

    async def body(archive: Archive) -> tuple[Checkpoint, str]:
        anchor = None if out is not None else open_anchor_for(args, archive)
        if out is None and anchor is None:
            raise CliError(
                "no anchor configured: set WABRIDGE_ANCHOR_URL (or WABRIDGE_ANCHOR_CONTAINER), "
                "give --anchor URL_OR_DIR, or --out FILE"
            )
        try:
            return await checkpoint_now(archive.store, writer, anchor=anchor, out=out)
        except NoArchive as exc:
            raise CliError(str(exc)) from None
        except FileExistsError:
            raise CliError(f"--out {out}: exists already") from None
        finally:
            if anchor is not None:
                await anchor.close()

    checkpoint, where = run_with_archive(args, body)
    print(
        f"checkpoint of archive {checkpoint.archive} at {checkpoint.created_at}: "
        f"{checkpoint.entries} ledger entries, {len(checkpoint.segments)} recent segment(s) "
        f"listed, {checkpoint.sealed.segments} older folded into one digest"
    )
    print(f"written to {where}")
    print(f"sha256 {checkpoint.sha256} (note it where the file cannot be changed with it)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    files = checkpoint_files(args)

    async def body(archive: Archive):
        anchor = open_anchor_for(args, archive)
        try:
            return await verify_archive(
                archive, check_media=not args.skip_media, anchor=anchor, checkpoint_files=files
            )
        finally:
            if anchor is not None:
                await anchor.close()

    report = run_with_archive(args, body)
    for problem in report.problems:
        print(problem.line())
    for warning in report.warnings:
        print("warning: " + warning.line())
    print_anchoring(report)
    summary = (
        f"{report.records} records, {report.ledger_entries} ledger entries in {report.segments} "
        f"segments, {report.media_checked} media checked, {report.checkpoints} checkpoint(s)"
    )
    if report.ok:
        print(f"verify OK: {summary}")
        return 0
    print(f"verify FAILED: {len(report.problems)} problem(s); {summary}")
    return 1


def print_anchoring(report) -> None:
    """The lines ``archive verify`` adds about checkpoints and the storage's protection."""
    for caveat in report.caveats:
        print("warning: " + caveat.line())
    if report.checkpoints and report.not_anchored:
        print(
            f"warning: not yet anchored: {report.not_anchored} record(s) written after the "
            f"newest checkpoint ({report.newest_checkpoint}); the next checkpoint will hold them"
        )
    for note in report.notes:
        print(note)
