"""Messages rendered from Jinja2 templates: ``templates/<language>/<message type>.txt.j2``.

A template's first line is the subject, the rest the body. A language without its own
template for a message falls back to English.

Money, dates, numbers and country names are written the way the customer's locale writes them
(Babel, from the CLDR): ``38,45 €`` and ``7 марта 2026 г.`` in Russian, ``€38.45`` and
``March 7, 2026`` in American English, ``¥1,234`` and ``2026年3月7日`` in Chinese. The locale is
the customer's language in their delivery country where Babel knows the pair (``ru_UA``,
``en_GB``, ``zh_Hans_CN``), else the language's own default (``ru``, ``en``, ``zh``).
"""  # noqa: RUF002 (Russian text)

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from shared.contracts import original_order
from shared.locales import locale_for, written_day, written_money, written_number

BUNDLED_TEMPLATES = Path(__file__).parent / "templates"
FALLBACK_LANGUAGE = "en"
LOCALE = "locale"
"""The name under which ``render`` hands the filters the locale to write in."""


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str
    language: str


def make_environment(directory: Path = BUNDLED_TEMPLATES) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["money"] = money
    environment.filters["day"] = day
    environment.filters["number"] = number
    environment.filters["country"] = country
    environment.filters["original_order"] = original_order
    environment.tests["replacement"] = is_replacement
    return environment


def render(
    templates: Environment,
    about: str,
    language: str,
    context: dict[str, Any],
    country: str | None = None,
) -> RenderedMessage:
    """Render in ``language`` (English if it has no template for ``about``), writing money and
    dates as that language does in ``country``."""
    template = templates.select_template(
        [f"{language}/{about}.txt.j2", f"{FALLBACK_LANGUAGE}/{about}.txt.j2"]
    )
    rendered_language = (template.name or FALLBACK_LANGUAGE).split("/")[0]
    locale = locale_for(rendered_language, country)
    subject, _, body = template.render({**context, LOCALE: locale}).partition("\n")
    return RenderedMessage(subject.strip(), body.strip("\n") + "\n", rendered_language)


def _locale(context: Context) -> Locale:
    found = context.get(LOCALE)
    return found if isinstance(found, Locale) else locale_for(FALLBACK_LANGUAGE)


@pass_context
def money(context: Context, minor_units: int, currency: str) -> str:
    """Integer minor units as the locale writes the amount: 3845 EUR is ``38,45 €`` in Russian,
    ``€38.45`` in English; 1234 JPY is ``¥1,234`` (the yen has no minor unit)."""
    return written_money(minor_units, currency, _locale(context))


@pass_context
def day(context: Context, value: str) -> str:
    """The date of an ISO date or (UTC) timestamp from a message, in the locale's long format:
    ``7 March 2026``, ``March 7, 2026``, ``7 марта 2026 г.``, ``2026年3月7日``."""  # noqa: RUF002
    return written_day(value, _locale(context))


@pass_context
def number(context: Context, value: int) -> str:
    """A count as the locale groups its digits: ``1,000``, ``1 000``."""
    return written_number(value, _locale(context))


@pass_context
def country(context: Context, code: str) -> str:
    """An ISO 3166 country code as the locale names the country: DE is Germany, Германия, 德国."""
    return str(_locale(context).territories.get(code, code))


def is_replacement(order_id: str) -> bool:
    """Whether an order id is a case id ``<order>.<n>``: a replacement's, sent free of charge."""
    return original_order(order_id) != order_id
