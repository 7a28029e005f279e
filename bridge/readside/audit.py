"""Audited access: every read of the archive (search, show, export, hold, …) leaves a record.

An audit record is a firm-internal record (platform ``teams``, direction ``internal``, kind
``audit``, no conversation): ``type`` names the action, ``sender`` who did it, ``text`` a
human summary and ``raw`` the structured details (query, how many records, where exported).
It is written *after* the access it describes, so a search never returns its own audit.
The record itself is made by :func:`bridge.convert.internal.audit_record`.
"""

from __future__ import annotations

import getpass
import re
import socket

from bridge.archive import Archive, dedupe_key_for
from bridge.record import Party, Record

_UPN_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_upn(value: str) -> str:
    """A user principal name as given to ``--as``; ``ValueError`` if it does not look like one."""
    value = (value or "").strip()
    if not _UPN_RE.match(value):
        raise ValueError(f"--as needs a user principal name like name@firm.com, not {value!r}")
    return value


def actor_party(upn: str | None) -> Party:
    """Who is reading: the ``--as`` UPN, else the operating-system user on this host."""
    if upn:
        upn = check_upn(upn)
        return Party(id=upn.lower(), name=upn, platform="teams", upn=upn)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Party(id=f"os:{user}@{socket.gethostname()}", name=user, platform="teams")


async def write_audit(archive: Archive, record: Record) -> Record:
    """Store an audit record durably; returns it sealed."""
    sealed = record.sealed()
    return (await archive.put(sealed, dedupe_key_for(sealed))).record
