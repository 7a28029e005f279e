"""``wabridge manifest build|validate``: the Teams app package, built and checked offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import CliError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "manifest",
        help="build and validate the Teams app package",
        description="Build the Teams app package (manifest.json and icons in a zip) and "
        "validate packages offline against Microsoft's manifest schema and wabridge's rules.",
    )
    commands = parser.add_subparsers(dest="manifest_command", metavar="SUBCOMMAND")
    commands.required = True

    build = commands.add_parser(
        "build",
        help="fill the manifest template and write the app package",
        description="Fill the manifest template with this deployment's ids and domain, "
        "validate it and write the zip to upload to Teams. The values come from the outputs "
        "of `azd up` (see the README's deploy section).",
    )
    build.add_argument(
        "--app-id",
        required=True,
        metavar="GUID",
        help="the Teams app's id: a GUID of your choice, kept for every version",
    )
    build.add_argument(
        "--bot-id",
        required=True,
        metavar="GUID",
        help="the bot's Microsoft App ID (MicrosoftAppId; the azd output BOT_ID)",
    )
    build.add_argument(
        "--domain",
        required=True,
        metavar="HOST",
        help="the bot's host name, e.g. wabridge-contoso.azurewebsites.net",
    )
    build.add_argument(
        "--version",
        default="1.0.0",
        metavar="X.Y.Z",
        help="the package version; raise it for every upload (default 1.0.0)",
    )
    build.add_argument("--name", default="WhatsApp", help="the app's short name in Teams")
    build.add_argument(
        "--developer-name", default="wabridge", help="the publisher shown in Teams (your firm)"
    )
    build.add_argument(
        "--website-url", help="https URL of the app's support page (default https://DOMAIN/)"
    )
    build.add_argument(
        "--privacy-url", help="https URL of your privacy notice (default https://DOMAIN/privacy)"
    )
    build.add_argument(
        "--terms-url", help="https URL of your terms of use (default https://DOMAIN/terms)"
    )
    build.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="ZIP",
        help="where to write the package, e.g. app.zip",
    )
    build.set_defaults(func=run_build)

    validate = commands.add_parser(
        "validate",
        help="validate an app package or manifest.json offline",
        description="Check a package zip (or a manifest.json with its icons beside it) against "
        "Microsoft's manifest JSON schema and the rules the schema does not express: icon "
        "sizes and transparency, the bot's ids, the channel-message permission, valid domains "
        "and the zip layout. Exit 1 listing every problem.",
    )
    validate.add_argument("path", type=Path, metavar="app.zip|manifest.json")
    validate.add_argument(
        "--domain", metavar="HOST", help="also require this host name in validDomains"
    )
    validate.set_defaults(func=run_validate)


def _fail(subject: str, problems) -> CliError:
    for problem in problems:
        print(f"wabridge: {subject}: {problem}", file=sys.stderr)
    count = len(problems)
    return CliError(
        f"{subject}: {count} problem{'s' if count != 1 else ''} (listed above); "
        "fix them and run again",
        exit_code=1,
    )


def run_build(args: argparse.Namespace) -> int:
    from bot.teams_app.build import PackageParams, build_package
    from bot.teams_app.problems import PackageInvalid
    from bot.teams_app.resources import SCHEMA_VERSION

    params = PackageParams(
        app_id=args.app_id,
        bot_id=args.bot_id,
        domain=args.domain,
        version=args.version,
        app_name=args.name,
        developer_name=args.developer_name,
        website_url=args.website_url,
        privacy_url=args.privacy_url,
        terms_url=args.terms_url,
    )
    try:
        manifest = build_package(params, args.out)
    except PackageInvalid as exc:
        raise _fail("manifest build", exc.problems) from exc
    except OSError as exc:
        raise CliError(f"manifest build: cannot write {args.out}: {exc.strerror or exc}") from exc
    for option, key in (("--privacy-url", "privacyUrl"), ("--terms-url", "termsOfUseUrl")):
        if getattr(args, option[2:].replace("-", "_")) is None:
            print(
                f"note: {key} defaults to {manifest['developer'][key]}; pass {option} with "
                "your firm's page",
                file=sys.stderr,
            )
    print(
        f"wrote {args.out}: Teams app {manifest['id']} version {manifest['version']}, "
        f"bot {manifest['bots'][0]['botId']}, manifest v{SCHEMA_VERSION}; validated"
    )
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from bot.teams_app.resources import SCHEMA_VERSION
    from bot.teams_app.validate import validate_path

    path: Path = args.path
    if not path.is_file():
        raise CliError(f"manifest validate: {path}: no such file (give app.zip or manifest.json)")
    try:
        problems = validate_path(path, domain=args.domain.lower() if args.domain else None)
    except OSError as exc:
        raise CliError(f"manifest validate: cannot read {path}: {exc.strerror or exc}") from exc
    if problems:
        raise _fail(str(path), problems)
    print(f"{path}: valid Teams app package (manifest schema v{SCHEMA_VERSION} and wabridge rules)")
    return 0
