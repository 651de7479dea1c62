"""Messages rendered from Jinja2 templates: ``templates/<language>/<message type>.txt.j2``.

A template's first line is the subject, the rest the body. A language without its own
template for a message falls back to English.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.contracts import original_order

BUNDLED_TEMPLATES = Path(__file__).parent / "templates"
FALLBACK_LANGUAGE = "en"
MINOR_UNIT_DIGITS = {"JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}


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
    environment.filters["original_order"] = original_order
    environment.tests["replacement"] = is_replacement
    return environment


def render(
    templates: Environment, about: str, language: str, context: dict[str, Any]
) -> RenderedMessage:
    template = templates.select_template(
        [f"{language}/{about}.txt.j2", f"{FALLBACK_LANGUAGE}/{about}.txt.j2"]
    )
    subject, _, body = template.render(context).partition("\n")
    rendered_language = (template.name or FALLBACK_LANGUAGE).split("/")[0]
    return RenderedMessage(subject.strip(), body.strip("\n") + "\n", rendered_language)


def money(minor_units: int, currency: str) -> str:
    """Integer minor units as the amount a person reads: 2995, "EUR" is "29.95 EUR"."""
    digits = MINOR_UNIT_DIGITS.get(currency, 2)
    return f"{Decimal(minor_units).scaleb(-digits):.{digits}f} {currency}"


def day(timestamp: str) -> str:
    """The (UTC) date of an ISO timestamp from a message."""
    return datetime.fromisoformat(timestamp).date().isoformat()


def is_replacement(order_id: str) -> bool:
    """Whether an order id is a case id ``<order>.<n>``: a replacement's, sent free of charge."""
    return original_order(order_id) != order_id
