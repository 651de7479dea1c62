"""Minor units and amounts, per currency: the ISO 4217 digits come from Babel's CLDR data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.currencies import (
    ACCEPTED,
    NotAnAmount,
    UnknownCurrency,
    minor_digits,
    plain,
    to_amount,
    to_minor,
)

ISO_4217_DIGITS = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "PLN": 2, "CZK": 2,
    "RUB": 2, "UAH": 2, "CNY": 2, "JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3,
}  # fmt: skip


@pytest.mark.parametrize(("currency", "digits"), ISO_4217_DIGITS.items())
def test_the_minor_unit_digits_are_iso_4217s(currency: str, digits: int) -> None:
    assert minor_digits(currency) == digits


def test_every_currency_accepted_by_default_has_its_iso_digits_on_record() -> None:
    assert set(ACCEPTED) <= set(ISO_4217_DIGITS)


@pytest.mark.parametrize(
    ("minor", "currency", "amount", "shown"),
    [
        (3845, "EUR", Decimal("38.45"), "38.45 EUR"),
        (5, "RUB", Decimal("0.05"), "0.05 RUB"),
        (1234, "JPY", Decimal("1234"), "1234 JPY"),
        (1500, "BHD", Decimal("1.500"), "1.500 BHD"),
        (0, "UAH", Decimal("0.00"), "0.00 UAH"),
    ],
)
def test_minor_units_and_amounts_round_trip(
    minor: int, currency: str, amount: Decimal, shown: str
) -> None:
    assert to_amount(minor, currency) == amount
    assert plain(minor, currency) == shown
    assert to_minor(str(amount), currency) == minor


def test_an_amount_more_precise_than_its_currency_is_refused_not_rounded() -> None:
    assert to_minor("29.9", "EUR") == 2990
    assert to_minor("1200", "JPY") == 1200
    with pytest.raises(NotAnAmount, match="a JPY amount has no decimals"):
        to_minor("12.5", "JPY")
    with pytest.raises(NotAnAmount, match="a EUR amount has at most 2 decimals"):
        to_minor("38.455", "EUR")
    with pytest.raises(NotAnAmount, match="not a number"):
        to_minor("12,50", "EUR")
    with pytest.raises(NotAnAmount, match="not a number"):
        to_minor("inf", "EUR")


def test_an_unknown_code_is_named() -> None:
    with pytest.raises(UnknownCurrency, match="'EURO' is not an ISO 4217 currency code"):
        minor_digits("EURO")
