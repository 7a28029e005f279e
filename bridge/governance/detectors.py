"""Built-in lexicon detectors: payment card numbers (Luhn) and IBANs (ISO 13616 mod-97).

Each detector is a pure function ``text -> list of matched strings`` (the strings as written).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# 13-19 digits, optionally grouped by single spaces or dashes, not glued to other digits.
_CARD_CANDIDATE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")

# Two letters, two check digits, then 11-30 letters/digits, optionally grouped by spaces.
_IBAN_CANDIDATE = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])"
)

#: IBAN lengths by country (the SWIFT IBAN registry); other countries are checked by mod-97 only.
IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VG": 24,
    "XK": 20,
}


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment card numbers."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def plausible_card_prefix(digits: str) -> bool:
    """Issuer prefixes of the card networks (Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37,
    Discover/UnionPay/Maestro 6, JCB/Diners 3, Maestro 50/56-58): cuts false positives such as
    dates and order numbers that happen to pass the Luhn check."""
    if digits[:1] in ("3", "4", "6"):
        return True
    if digits[:1] == "5":
        return True
    return digits[:1] == "2" and 2221 <= int(digits[:4]) <= 2720


def iban_valid(iban: str) -> bool:
    """ISO 13616: the country's length (where known) and mod-97 of the rearranged number is 1."""
    compact = re.sub(r"\s", "", iban).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def find_payment_cards(text: str) -> list[str]:
    """Digit runs of 13-19 digits with a card network's prefix that pass the Luhn check."""
    found = []
    for match in _CARD_CANDIDATE.finditer(text or ""):
        digits = re.sub(r"\D", "", match.group())
        if (
            13 <= len(digits) <= 19
            and plausible_card_prefix(digits)
            and luhn_valid(digits)
            and len(set(digits)) > 1
        ):
            found.append(match.group())
    return found


def find_ibans(text: str) -> list[str]:
    """IBANs (compact or in groups of four) whose check digits are right."""
    found = []
    for match in _IBAN_CANDIDATE.finditer(text or ""):
        candidate = match.group()
        # A grouped IBAN may be followed by ordinary words: try the longest valid prefix.
        parts = candidate.split(" ")
        for end in range(len(parts), 0, -1):
            prefix = " ".join(parts[:end])
            if iban_valid(prefix):
                found.append(prefix)
                break
    return found


#: Detector name (as written in the policy file) -> function.
DETECTORS: dict[str, Callable[[str], list[str]]] = {
    "payment_card": find_payment_cards,
    "iban": find_ibans,
}
