"""Logs: one configuration for every process (``configure``: the CLI, so every worker), readable
lines in development and one JSON object per line in deploy, and the context every line carries.

Every line goes through one chain of structlog processors: the runtime's own events
(``get_logger``: an event name and fields, no text to parse) and every library's plain
``logging`` calls alike, since ours are handed to ``logging`` as records with their fields
(``render_to_log_kwargs``) and structlog's ``ProcessorFormatter`` renders every record. The chain
adds, where they apply:

- ``worker``: bound for the worker's thread (``structlog.contextvars``), and by the message;
- ``replica``: this process (``ORDERFLOW_REPLICA``, or host name/pid);
- the message in hand (``handling``): ``message_id``, ``message_type``, ``order_id``,
  ``correlation_id``;
- ``trace_id``, ``span_id``: OpenTelemetry's current span, when there is a valid one.

The message in hand is one ``ContextVar`` set and reset per message (about 0.2 µs); its fields
are made only when a line is written. ``redact`` masks what looks like an e-mail address or a
card token in any line, a second line of defence behind keeping them out at the source.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

if TYPE_CHECKING:
    from shared.envelope import Envelope

__all__ = ["LogFormat", "bound_worker", "configure", "get_logger", "handling"]

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LogFormat(StrEnum):
    CONSOLE = "console"
    """Readable lines for a person at a terminal (development)."""
    JSON = "json"
    """One JSON object per line, for a log collector (deploy)."""


_TO_LOGGING: list[Processor] = [
    structlog.stdlib.filter_by_level,
    structlog.stdlib.render_to_log_kwargs,
]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger whose events become ``logging`` records (the event as the message, the
    fields as the record's extras), formatted as every other record is. It needs no global
    structlog configuration, so it works the same before ``configure`` (in tests, say)."""
    return structlog.stdlib.BoundLogger(logging.getLogger(name), _TO_LOGGING, {})


def bound_worker(name: str) -> AbstractContextManager[Any]:
    """``with bound_worker(name):`` every line of this thread names the worker (its loop's
    thread, or the embedded pump while it polls that worker)."""
    return structlog.contextvars.bound_contextvars(worker=name)


# -- the message in hand ----------------------------------------------------------------------

_HANDLING: ContextVar[tuple[str, Envelope] | None] = ContextVar("handling", default=None)


class handling:
    """``with handling(worker, envelope):`` every line written meanwhile, in this thread, is
    about that message. A class, not a generator: it is on the path of every message."""

    __slots__ = ("_token", "_value")

    def __init__(self, worker: str, envelope: Envelope) -> None:
        self._value = (worker, envelope)

    def __enter__(self) -> None:
        self._token: Token[tuple[str, Envelope] | None] = _HANDLING.set(self._value)

    def __exit__(self, *_: object) -> None:
        _HANDLING.reset(self._token)


def add_message(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The fields of the message in hand (an event's own fields win)."""
    current = _HANDLING.get()
    if current is not None:
        worker, envelope = current
        event.setdefault("worker", worker)
        event.setdefault("message_id", envelope.id)
        event.setdefault("message_type", envelope.type)
        order_id = envelope.data.get("order_id")
        if isinstance(order_id, str):
            event.setdefault("order_id", order_id)
        event.setdefault("correlation_id", envelope.correlationid)
    return event


def add_trace(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The current span's trace and span id, when there is a valid span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


def replica_name(configured: str | None = None) -> str:
    """Who this process is: the setting, or host name/pid (a pod's name on Kubernetes)."""
    return configured or f"{socket.gethostname()}/{os.getpid()}"


class AddReplica:
    def __init__(self, replica: str) -> None:
        self.replica = replica

    def __call__(self, _: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("replica", self.replica)
        return event


# -- the second line of defence -----------------------------------------------------------------

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
CARD_TOKEN = re.compile(r"\btok_\w+")


def _masked(text: str) -> str:
    if "@" in text:
        text = EMAIL.sub("[email]", text)
    if "tok_" in text:
        text = CARD_TOKEN.sub("[token]", text)
    return text


def redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Mask e-mail addresses and card tokens in every text field of the line."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = _masked(value)
    return event


# -- configuration ----------------------------------------------------------------------------


def processors(replica: str) -> list[Processor]:
    """What every record goes through before it is rendered."""
    return [
        structlog.stdlib.ExtraAdder(),
        structlog.contextvars.merge_contextvars,
        add_message,
        AddReplica(replica),
        add_trace,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def renderer(format: LogFormat, colors: bool = False) -> Processor:
    if format is LogFormat.JSON:
        return structlog.processors.JSONRenderer(sort_keys=False)
    return structlog.dev.ConsoleRenderer(
        colors=colors, exception_formatter=structlog.dev.plain_traceback
    )


def formatter(format: LogFormat, replica: str, colors: bool = False) -> logging.Formatter:
    """The formatter of every line: context added, exceptions as text, redacted, rendered."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=processors(replica),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer(format, colors),
        ],
    )


def configure(
    format: LogFormat | str = LogFormat.CONSOLE,
    level: str = "info",
    replica: str | None = None,
    stream: Any = None,
) -> logging.Handler:
    """Send every log line of this process to ``stream`` (stderr), at ``level`` and above, in
    ``format``; replaces the root logger's handlers. Returns the handler."""
    chosen = LogFormat(format)
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    colors = chosen is LogFormat.CONSOLE and hasattr(out, "isatty") and out.isatty()
    handler.setFormatter(formatter(chosen, replica_name(replica), colors))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
