"""How a customer's locale writes money, dates and numbers (Babel, from the CLDR), for everything
a customer reads: the notifier's e-mails and the warehouse's printed documents alike.

The locale is the customer's language in their delivery country where Babel knows the pair
(``ru_UA``, ``en_GB``, ``zh_Hans_CN``), else the language's own default (``ru``, ``en``, ``zh``):
``38,45 €`` and ``7 марта 2026 г.`` in Russian, ``€38.45`` and ``March 7, 2026`` in American
English, ``¥1,234`` and ``2026年3月7日`` in Chinese.
"""  # noqa: RUF002 (Russian text)

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent, get_currency_symbol

from .currencies import to_amount

SIGNS = {"EUR": "€", "GBP": "£", "RUB": "₽", "UAH": "₴", "KZT": "₸", "INR": "₹", "ILS": "₪"}
"""Signs that stand for one currency only, used where a locale's symbol is just the ISO code
(Ukrainian writes EUR, English RUB): the CLDR has them as "narrow" symbols, which Babel does not
import. ``$`` and ``¥`` name several currencies, so the locale's own symbol stays for those."""
CODE_BEFORE_DIGIT = re.compile(r"(?<=[A-Z])(?=\d)")


@cache
def locale_for(language: str, country: str | None = None) -> Locale:
    """The language as written in ``country`` where Babel knows the pair, else as written where
    the language is at home."""
    if country:
        try:
            return Locale.parse(f"{language}_{country}")
        except (UnknownLocaleError, ValueError):
            pass
    return Locale.parse(language)


@lru_cache(maxsize=8192)
def written_money(minor_units: int, currency: str, locale: Locale) -> str:
    """Integer minor units as the locale writes the amount: 3845 EUR is ``38,45 €`` in Russian,
    ``€38.45`` in English; 1234 JPY is ``¥1,234`` (the yen has no minor unit).

    Cached: prices, fees and totals repeat, and Babel's formatting was a tenth of the
    notifier's CPU."""
    text = format_currency(to_amount(minor_units, currency), currency, locale=locale)
    if get_currency_symbol(currency, locale) == currency:
        text = text.replace(currency, SIGNS.get(currency, currency))
    return CODE_BEFORE_DIGIT.sub("\N{NO-BREAK SPACE}", text)


@lru_cache(maxsize=4096)
def written_day(value: str | date, locale: Locale) -> str:
    """The date of an ISO date or (UTC) timestamp, or of a date, in the locale's long format:
    ``7 March 2026``, ``March 7, 2026``, ``7 марта 2026 г.``, ``2026年3月7日``. Cached, as money
    is: an order's dates repeat across its e-mails and across orders."""  # noqa: RUF002
    day = datetime.fromisoformat(value).date() if isinstance(value, str) else value
    return format_date(day, "long", locale=locale)


@lru_cache(maxsize=1024)
def written_number(value: int, locale: Locale) -> str:
    """A count as the locale groups its digits: ``1,000``, ``1 000``."""
    return format_decimal(value, locale=locale)


@lru_cache(maxsize=256)
def written_rate(basis_points: int, locale: Locale) -> str:
    """A rate in hundredths of a percent as the locale writes a percentage: 1900 is ``19%``,
    ``19 %`` in Russian, 750 is ``7.5%``."""
    rate = Decimal(basis_points).scaleb(-4)
    return format_percent(rate, locale=locale, decimal_quantization=False)
