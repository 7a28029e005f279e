"""``wabridge contacts …``: the external WhatsApp contacts the archive has seen.

Derived from the archived records (first and last seen, profile name, and the record that is
the contact's opt-in evidence: where they first wrote or answered a template).
"""

from __future__ import annotations

import argparse
import json

from bot.cli.common import CliError, add_archive_option, run_with_archive
from bridge.governance.contacts import load_contacts
from bridge.readside.query import phone_digits


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("contacts", help="external WhatsApp contacts seen")
    commands = parser.add_subparsers(dest="contacts_command", metavar="ACTION")
    commands.required = True

    listing = commands.add_parser(
        "list",
        help="every contact, most recently seen first",
        description="List every WhatsApp contact the archive has seen.",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    add_archive_option(listing)
    listing.set_defaults(func=cmd_list)

    show = commands.add_parser(
        "show", help="one contact in full", description="Show one contact by wa_id (phone number)."
    )
    show.add_argument("wa_id", metavar="WA_ID", help="the contact's wa_id or phone number")
    show.add_argument("--json", action="store_true", help="print JSON")
    add_archive_option(show)
    show.set_defaults(func=cmd_show)


def cmd_list(args: argparse.Namespace) -> int:
    contacts = run_with_archive(args, load_contacts)
    ordered = sorted(contacts.values(), key=lambda c: c.last_seen or "", reverse=True)
    if args.json:
        for contact in ordered:
            print(json.dumps(contact.to_dict(), sort_keys=True, ensure_ascii=False))
        return 0
    if not ordered:
        print("no contacts")
        return 0
    print(
        f"{'WA_ID':<16}  {'PROFILE NAME':<20}  {'FIRST SEEN':<20}  {'LAST SEEN':<20}  "
        f"{'IN':>4}  {'OUT':>4}  OPT-IN RECORD"
    )
    for c in ordered:
        print(
            f"{c.wa_id:<16}  {(c.profile_name or '-')[:20]:<20}  {(c.first_seen or '-')[:19]:<20}"
            f"  {(c.last_seen or '-')[:19]:<20}  {c.messages_in:>4}  {c.messages_out:>4}  "
            f"{c.opt_in_record or '-'}"
        )
    print(f"{len(ordered)} contact(s)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    contacts = run_with_archive(args, load_contacts)
    contact = contacts.get(args.wa_id)
    if contact is None:
        wanted = phone_digits(args.wa_id)
        contact = next(
            (c for c in contacts.values() if wanted and phone_digits(c.wa_id) == wanted), None
        )
    if contact is None:
        raise CliError(f"no contact with wa_id {args.wa_id}", exit_code=1)
    data = contact.to_dict()
    if args.json:
        print(json.dumps(data, sort_keys=True, ensure_ascii=False, indent=2))
        return 0
    print(f"wa_id:         {contact.wa_id}")
    print(f"profile name:  {contact.profile_name or '-'}")
    print(f"first seen:    {contact.first_seen or '-'}")
    print(f"last seen:     {contact.last_seen or '-'}")
    print(f"messages:      {contact.messages_in} in, {contact.messages_out} out")
    print(
        f"opt-in:        {contact.opt_in_kind or '-'}, record {contact.opt_in_record or '-'} "
        f"at {contact.opt_in_at or '-'}"
    )
    if contact.template_reply_record:
        print(f"template reply: record {contact.template_reply_record}")
    print("conversations: " + (", ".join(sorted(contact.conversations)) or "-"))
    return 0
