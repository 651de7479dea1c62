"""Checks of the settings that pydantic's types cannot say: URLs that must parse, a database URL
template whose ``{worker}`` must appear exactly once. Each raises ``PydanticCustomError`` with a
message that says what is wrong and what is expected, so ``orderflow`` prints it next to the
setting's name (``describe``) instead of a traceback, and a worker never starts on a URL that
would quietly create oddly named databases or connect nowhere."""

from __future__ import annotations

from string import Formatter
from urllib.parse import urlsplit

from pydantic_core import PydanticCustomError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

BROKER_SCHEMES = ("memory", "amqp", "amqps", "pyamqp")


def broker_url(url: str) -> str:
    """A kombu URL this runtime speaks: memory:// or AMQP with a host."""
    parts = urlsplit(url)
    if parts.scheme not in BROKER_SCHEMES:
        raise _problem(
            "broker_url",
            f"scheme {parts.scheme or '(none)'!r} is not one of {', '.join(BROKER_SCHEMES)} "
            "(expected e.g. amqp://user:password@rabbitmq:5672//)",
        )
    if parts.scheme != "memory" and not parts.hostname:
        raise _problem("broker_url", "has no host (expected amqp://user:password@host:5672//)")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise _problem("broker_url", "its port is not a number from 0 to 65535") from None
    return url


def database_url_template(template: str) -> str:
    """``{worker}`` exactly once, no other placeholder, no stray brace; a SQLAlchemy URL once
    filled in."""
    try:
        parsed = [
            (f, spec, conv) for _, f, spec, conv in Formatter().parse(template) if f is not None
        ]
    except ValueError as error:
        raise _problem(
            "database_url_template",
            f"{error} (a stray brace?): the template must contain {{worker}} exactly once, "
            "e.g. postgresql+psycopg://orderflow@postgres:5432/orderflow_{worker}",
        ) from None
    fields = [field for field, _, _ in parsed]
    others = sorted({f"{{{field}}}" for field in fields if field != "worker"})
    if others:
        raise _problem(
            "database_url_template",
            f"has placeholders other than {{worker}}: {', '.join(others)}",
        )
    if len(fields) != 1:
        raise _problem(
            "database_url_template",
            f"contains {{worker}} {len(fields)} times; it must contain it exactly once, so "
            "each worker gets its own database",
        )
    if any(spec or conversion for _, spec, conversion in parsed):
        raise _problem("database_url_template", "{worker} takes no format spec or conversion")
    filled = template.format(worker="worker")
    if "{" in filled or "}" in filled:
        raise _problem("database_url_template", "has a brace besides {worker}")
    _sqlalchemy_url("database_url_template", filled)
    return template


def database_url(url: str) -> str:
    """A URL SQLAlchemy can read (its driver is loaded when the worker connects)."""
    if "{" in url or "}" in url:
        raise _problem("database_url", "a per-worker URL is not a template: it has a brace")
    return _sqlalchemy_url("database_url", url)


def _sqlalchemy_url(kind: str, url: str) -> str:
    try:
        make_url(url)
    except ArgumentError:
        raise _problem(
            kind,
            "is not a SQLAlchemy URL (expected e.g. postgresql+psycopg://user@host:5432/name "
            "or sqlite:///path.db)",
        ) from None
    return url


def at_most(low: float, high: float, low_name: str, high_name: str) -> None:
    """A first pause may not outgrow the longest one."""
    if low > high:
        raise _problem("pause_order", f"is shorter ({high:g}) than {low_name} ({low:g})")


def _problem(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)
