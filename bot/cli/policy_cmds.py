"""``wabridge policy …``: check text against the lexicon, show the policy file."""

from __future__ import annotations

import argparse

from bot.cli.common import CliError, add_archive_option
from bot.settings import load_environment
from bridge.governance.policy import Finding, Policy, PolicyError, load_policy


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("policy", help="the WhatsApp policy file and its lexicon rules")
    commands = parser.add_subparsers(dest="policy_command", metavar="ACTION")
    commands.required = True

    check = commands.add_parser(
        "check",
        help="show which lexicon rules fire on a text",
        description="Print the rules that fire on --text (exit status 0 whether or not any does).",
    )
    check.add_argument("--text", required=True, help="the message text to check")
    check.add_argument(
        "--direction",
        choices=("outbound", "inbound", "both"),
        default="both",
        help="check the rules of this direction (default: both)",
    )
    check.add_argument(
        "--mime-type",
        action="append",
        default=[],
        metavar="TYPE",
        help="an outbound attachment's MIME type (repeatable)",
    )
    check.add_argument("--policy-file", metavar="FILE", help="overrides WABRIDGE_POLICY_FILE")
    add_archive_option(check)
    check.set_defaults(func=cmd_check)

    show = commands.add_parser(
        "show",
        help="print the policy's version, text hash and rules",
        description="Load and check the policy file, then summarize it.",
    )
    show.add_argument("--policy-file", metavar="FILE", help="overrides WABRIDGE_POLICY_FILE")
    add_archive_option(show)
    show.set_defaults(func=cmd_show)


def load_policy_option(path: str | None, *, required: bool = True) -> Policy | None:
    """The policy from ``--policy-file`` or ``WABRIDGE_POLICY_FILE``; one-line errors."""
    path = path or load_environment().get("WABRIDGE_POLICY_FILE") or None
    if not path:
        if required:
            raise CliError("no policy file: set WABRIDGE_POLICY_FILE or pass --policy-file")
        return None
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise CliError(str(exc)) from exc


def cmd_check(args: argparse.Namespace) -> int:
    policy = load_policy_option(args.policy_file)
    assert policy is not None
    directions = ("outbound", "inbound") if args.direction == "both" else (args.direction,)
    fired: dict[str, Finding] = {}
    for direction in directions:
        for finding in policy.findings(args.text, direction, args.mime_type):
            fired.setdefault(finding.rule, finding)
    print(
        f"policy {policy.version} ({policy.source}): {len(policy.rules)} rule(s); "
        f"checked {args.direction} text"
    )
    if not fired:
        print("no rule fires")
        return 0
    rules = {r.name: r for r in policy.rules}
    for finding in fired.values():
        rule = rules.get(finding.rule)
        how = rule.describe_pattern() if rule else "attachment types"
        applies = rule.direction if rule else "outbound"
        matched = ", ".join(repr(m) for m in finding.matched)
        print(
            f"{finding.action.upper():<5}  {finding.rule}  [{applies}; {how}]  {finding.reason}"
            f"  (matched {matched})"
        )
    blocks = sum(1 for f in fired.values() if f.action == "block")
    print(f"{len(fired)} rule(s) fire: {blocks} block, {len(fired) - blocks} flag")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    policy = load_policy_option(args.policy_file)
    assert policy is not None
    print(f"file: {policy.source}")
    print(f"version: {policy.version}")
    print(f"text sha256: {policy.text_sha256}")
    allowed = (
        "any" if policy.outbound_allowed is None else ", ".join(policy.outbound_allowed) or "none"
    )
    print(f"outbound attachments allowed: {allowed}")
    for rule in policy.rules:
        print(
            f"rule {rule.name}: {rule.action} {rule.direction} ({rule.describe_pattern()}) "
            f"- {rule.reason}"
        )
    return 0
