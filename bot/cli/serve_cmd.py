"""``wabridge serve``: run the service."""

from __future__ import annotations

import argparse
import gc
import logging

from bot.cli.common import CliError, add_archive_option
from bot.settings import ConfigError, Settings, load_environment


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the bot and webhook service",
        description="Run the Bot Framework and WhatsApp webhook service on HOST:PORT.",
    )
    add_archive_option(parser)
    parser.add_argument("--host", help="bind address (default HOST or 0.0.0.0)")
    parser.add_argument("--port", type=int, help="TCP port (default PORT or 3978)")
    parser.set_defaults(func=run)


#: Net allocations between two collections of the youngest generation (Python's default: 700).
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Fewer, larger collections for a request-serving process.

    Each request allocates many short-lived objects (the storage SDK's most of all), so with
    the default threshold the collector runs every few requests and rescans what start-up
    built. Here start-up's objects are left out of collections (``gc.freeze``) and the youngest
    generation is collected every ``GC_GEN0_THRESHOLD`` net allocations: about 5 % less CPU per
    webhook delivery for a few MiB more memory (docs/reliability.md).
    """
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import SERVICE, create_app

    env = dict(load_environment())
    if args.host:
        env["HOST"] = args.host
    if args.port is not None:
        env["PORT"] = str(args.port)
    try:
        settings = Settings.from_env(env, archive_override=args.archive)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The Azure SDK logs every storage request's headers at INFO: noise, and costly per write.
    logging.getLogger("azure").setLevel(logging.WARNING)
    log = logging.getLogger("wabridge")
    if settings.dev_mode:
        log.warning(
            "WABRIDGE_DEV_MODE=1: running without %s",
            ", ".join(settings.missing_secrets()) or "nothing missing",
        )
    try:
        app = create_app(settings)
    except (ConfigError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    log.info(
        "archive: %s; listening on %s:%s",
        app[SERVICE].archive.store.description,
        settings.host,
        settings.port,
    )
    tune_gc()
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0
