"""Built-in detectors: payment cards with the Luhn check, IBANs with mod-97."""

from __future__ import annotations

import pytest

from bridge.governance.detectors import find_ibans, find_payment_cards, iban_valid, luhn_valid


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111111",
        "5500005555555559",
        "378282246310005",
        "6011111111111117",
        "4000056655665556",
    ],
)
def test_known_test_card_numbers_pass_luhn(number):
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4111111111111112", "1234567812345678", "12a4"])
def test_wrong_check_digit_fails_luhn(number):
    assert not luhn_valid(number)


def test_card_numbers_are_found_as_written_and_only_when_luhn_valid():
    text = (
        "pay with 4111 1111 1111 1111 or 5500-0055-5555-5559; not 4111 1111 1111 1112, "
        "order 20261128123456 or phone +44 20 7946 0958"
    )
    assert find_payment_cards(text) == ["4111 1111 1111 1111", "5500-0055-5555-5559"]


def test_a_longer_digit_run_is_not_read_as_a_card():
    assert find_payment_cards("tracking 411111111111111100001") == []


@pytest.mark.parametrize(
    "iban",
    [
        "GB82 WEST 1234 5698 7654 32",
        "DE89370400440532013000",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
        "be71 0961 2345 6769",
    ],
)
def test_valid_ibans(iban):
    assert iban_valid(iban)


@pytest.mark.parametrize(
    "iban",
    [
        "GB83 WEST 1234 5698 7654 32",  # check digits wrong
        "DE8937040044053201300",  # one digit short for Germany
        "XX00",
    ],
)
def test_invalid_ibans(iban):
    assert not iban_valid(iban)


def test_ibans_found_in_text_grouped_or_compact():
    text = (
        "Send it to GB82 WEST 1234 5698 7654 32 today, or DE89370400440532013000. "
        "Not GB83WEST12345698765432."
    )
    assert find_ibans(text) == ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"]
