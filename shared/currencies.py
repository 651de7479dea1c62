"""Currencies: the one place where integer minor units become amounts, and amounts minor units.

Money travels as integer minor units of an ISO 4217 currency (``shared.contracts.Money``). How
many digits the minor unit has depends on the currency: two for EUR (1 = 0.01 €), none for JPY
(1 = ¥1), three for BHD. The digits come from the CLDR through Babel, which for every currency
orderflow accepts by default agrees with ISO 4217 (a test checks the ones we rely on).

Prices are the sales channel's: an order's lines, shipping fee and total are in the order's
currency as the channel priced them, and orderflow never converts between currencies.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision, list_currencies

ACCEPTED = ("EUR", "USD", "GBP", "CHF", "PLN", "CZK", "RUB", "UAH", "CNY", "JPY")
"""The currencies intake accepts unless its settings say otherwise."""


class UnknownCurrency(ValueError):
    """Not an ISO 4217 code Babel knows."""


class NotAnAmount(ValueError):
    """Not an amount of the currency: not a number, or more precise than its minor unit."""


@cache
def known(currency: str) -> bool:
    """Whether ``currency`` is an ISO 4217 code (``EUR``, not ``eur`` or ``€``)."""
    return currency in list_currencies()


@cache
def minor_digits(currency: str) -> int:
    """The digits of the currency's minor unit: 2 for EUR, 0 for JPY, 3 for BHD."""
    if not known(currency):
        raise UnknownCurrency(f"{currency!r} is not an ISO 4217 currency code")
    return int(get_currency_precision(currency))


def to_amount(minor_units: int, currency: str) -> Decimal:
    """Minor units as a decimal amount with the currency's digits: 3845 EUR is 38.45."""
    digits = minor_digits(currency)
    return Decimal(minor_units).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """A decimal amount as minor units: "38.45" EUR is 3845, "1234" JPY is 1234. An amount more
    precise than the currency allows (38.455 EUR, 12.5 JPY) is refused, never rounded."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise NotAnAmount(f"{str(amount)!r} is not a number") from None
    if not value.is_finite():
        raise NotAnAmount(f"{str(amount)!r} is not a number")
    digits = minor_digits(currency)
    minor = value.scaleb(digits)
    if minor != minor.to_integral_value():
        allowed = f"at most {digits} decimals" if digits else "no decimals"
        raise NotAnAmount(f"{str(amount)!r} is too precise: a {currency} amount has {allowed}")
    return int(minor)


def plain(minor_units: int, currency: str) -> str:
    """An amount for operators, logs and intake's problems: ``38.45 EUR``, ``1234 JPY``.
    Customers read amounts in their own locale instead (the notifier's ``money`` filter)."""
    return f"{to_amount(minor_units, currency)} {currency}"
