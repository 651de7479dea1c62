"""What every customer's document shares: the words and the locale of its reader, and the
address block."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.numbers import format_decimal

from shared.contracts import Address
from shared.locales import locale_for, written_day, written_money, written_rate

from .records import Papers
from .sheet import Sheet
from .words import words


@dataclass(frozen=True)
class Reader:
    """Who reads a document: their words, and their locale for money, dates and countries."""

    words: dict[str, str]
    locale: Locale
    currency: str

    @classmethod
    def of(cls, papers: Papers) -> Reader:
        locale = locale_for(papers.language, papers.country)
        return cls(words(papers.language), locale, papers.order.currency or "EUR")

    def __getitem__(self, word: str) -> str:
        return self.words.get(word, word)

    def money(self, minor_units: int, currency: str | None = None) -> str:
        """An amount of the order's currency, or of ``currency``."""
        return written_money(minor_units, currency or self.currency, self.locale)

    def day(self, value: date | datetime) -> str:
        return written_day(value.date() if isinstance(value, datetime) else value, self.locale)

    def kilograms(self, grams: int) -> str:
        return f"{format_decimal(Decimal(grams).scaleb(-3), locale=self.locale)} kg"

    def country(self, code: str) -> str:
        return str(self.locale.territories.get(code, code))

    def rate(self, basis_points: int) -> str:
        return written_rate(basis_points, self.locale)

    def address(self, address: Address) -> list[str]:
        lines = [address.line1, *([address.line2] if address.line2 else [])]
        return [*lines, f"{address.postal_code} {address.city}", self.country(address.country)]


def heading(sheet: Sheet, title: str, reader: Reader, papers: Papers) -> None:
    """The title, the order's id and the day it was placed."""
    sheet.line(title, size=18, bold=True)
    sheet.line(f"{reader['order']}: {papers.order_id}", size=11)
    sheet.line(f"{reader['date']}: {reader.day(papers.order.submitted_at)}", size=11)
    sheet.space()


def address_block(sheet: Sheet, title: str, lines: list[str]) -> None:
    sheet.line(title, size=11, bold=True)
    for line in lines:
        sheet.line(line, size=11)
    sheet.space()
