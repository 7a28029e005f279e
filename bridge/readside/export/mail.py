"""RFC 5322 building blocks shared by the EML and RSMF exports.

Text from outside (names, message text, ids from payloads) never reaches a header raw: control
characters (CR and LF above all, which would start a new header) are shown escaped, non-ASCII is
encoded (RFC 2047), and lines end CRLF. Boundaries and ids derive from the content, so the same
records give the same bytes on every export.
"""

from __future__ import annotations

import hashlib
import re
from email.headerregistry import Address
from email.policy import SMTP

from bridge.readside.export.parties import Participant

#: CRLF line ends, 7-bit headers; not folded below RFC 5322's hard limit of 998, so a hash or
#: an id is never split across lines (readers differ in how they unfold).
EML_POLICY = SMTP.clone(max_line_length=998)
_DOT_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def header_text(value: object, limit: int = 900) -> str:
    """A value safe for one header: control characters escaped (``\\r``, ``\\n``, ``\\x07``),
    cut to ``limit`` characters."""

    def escape(match: re.Match[str]) -> str:
        ch = match.group(0)
        return {"\r": "\\r", "\n": "\\n", "\t": " "}.get(ch, f"\\x{ord(ch):02x}")

    out = _CONTROL.sub(escape, str(value))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def message_id_for(token: str) -> str:
    """``<token@wabridge.invalid>`` for a source id or record id (hashed if not a dot-atom)."""
    if not _DOT_ATOM.match(token) or len(token) > 200:
        token = "h." + hashlib.sha256(token.encode("utf-8")).hexdigest()
    return f"<{token}@wabridge.invalid>"


def address_of(person: Participant) -> Address:
    """A participant as a mail address: their display name and a stable, never-routable address
    (an employee's UPN when known)."""
    local, domain = person.address()
    return Address(display_name=header_text(person.display, 200), username=local, domain=domain)


def boundary_for(*seeds: str) -> str:
    """A MIME boundary derived from the content (``=_`` never occurs in base64 or in
    quoted-printable soft breaks followed by ``_``)."""
    digest = hashlib.sha256("\x1f".join(seeds).encode("utf-8")).hexdigest()[:32]
    return f"=_wabridge_{digest}"
