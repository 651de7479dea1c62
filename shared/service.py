"""What a worker is made of, and how handlers get their dependencies.

A handler is a plain function ``on_<type>(message, uow, **dependencies)`` that changes state
through the unit of work and returns the messages it announces (or ``Scheduled`` ones). It never
commits, acks, publishes, sleeps, retries or reads settings: the runtime does those, once, for all.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import MetaData
from sqlalchemy.orm import Session, sessionmaker

from shared.contracts import Message
from shared.crash import CrashPoint
from shared.envelope import Envelope, InvalidMessage, TraceContext
from shared.event_batches import BATCHED
from shared.rows import locked_rows
from shared.timers import Scheduled

Result = Iterable[Message | Scheduled]
Handler = Callable[..., Result]
BoundHandler = Callable[[Any, Any], Result]
InvalidHandler = Callable[[Envelope, InvalidMessage, Any], Result]


class Announce(Protocol):
    """After-commit work announcing ``messages`` in ``session``'s transaction. ``traces`` gives
    each message the trace context it continues (the one its cause was handled in, kept with
    the row that waited for the work); a message without one starts a new trace."""

    def __call__(
        self,
        session: Session,
        messages: Sequence[Message],
        traces: Sequence[TraceContext | None] = (),
    ) -> None: ...


Reach = Callable[[CrashPoint], None]
AfterCommit = Callable[[sessionmaker[Session], Announce, Reach], int]
Gauges = Callable[[Session, datetime], None]


class UnitOfWork:
    """One database transaction, seen by handlers through the worker's stores.

    The runtime owns the transaction; a worker subclasses this to add its stores, and overrides
    ``preload`` to lock the batch's rows in one query per table (see ``shared.rows``).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """Lock what ``messages`` will touch before their handlers run; optional."""

    def finish(self) -> None:
        """Write what the batch's handlers recorded without writing it, once they all ran, in
        the same transaction; optional (reporting's set-based upserts)."""


@dataclass(frozen=True)
class Service:
    """One worker: its name, its tables, its handler table and its unit of work."""

    name: str
    metadata: MetaData
    unit_of_work: Callable[[Session], UnitOfWork]
    handlers: Mapping[type[Message], BoundHandler]
    publishes: frozenset[type[Message]] = frozenset()
    """Every type it announces: what its handlers return (but for the timers they schedule for
    themselves), what its after-commit work and its operator actions announce. Retries and the
    parking lot are the runtime's, not the worker's announcements."""
    invalid_handlers: Mapping[type[Message], InvalidHandler] = field(default_factory=dict)
    after_commit: AfterCommit | None = None
    """Work that talks to a third party once state is committed (e-mail): handlers record
    what to do; this does it, records that it was done and may ``announce`` messages in the
    same transaction (they go to the outbox; the sweep publishes them). It passes its own crash
    points with ``reach`` (``shared.crash``). Returns how much it did."""
    inbox: bool = True
    """Whether a message handled before is skipped through the inbox. A service whose every
    handler gives the same rows however often and in whatever order it runs (reporting's read
    model) sets False, and saves an inbox row per message."""
    batched: bool = False
    """Whether it hears its events in batches, a few deliveries an order instead of one an
    event (``shared.event_batches``): for a worker that hears many events per order and answers
    none (reporting). It may then hear only the ``BATCHED`` events."""
    gauges: Gauges | None = None
    """Sets the service's own gauges from its database as of a time (intake's orders per
    status); the runtime calls it every ``gauge_refresh_seconds``, off the message path
    (``shared.gauges``). Handlers never touch metrics."""

    def __post_init__(self) -> None:
        if self.batched:
            unbatched = sorted(c.type for c in self.handlers if c not in BATCHED)
            if unbatched:
                raise ValueError(f"{self.name}: batched, but hears {unbatched}, not in BATCHED")

    @property
    def subscriptions(self) -> list[type[Message]]:
        return list(self.handlers)


def inject(
    handlers: Mapping[type[Message], Handler], positional: int = 2, **dependencies: Any
) -> dict[type[Message], Any]:
    """Bind each handler's keyword dependencies by parameter name, once, at bootstrap.

    The first ``positional`` parameters are what the runtime passes: the message and the unit of
    work (for an invalid-message handler: the envelope, the problem and the unit of work).
    """
    return {c: _bind(handler, positional, dependencies) for c, handler in handlers.items()}


ENVELOPE = "envelope"
"""A handler parameter the runtime fills per message with the message's envelope, for the rare
handler that must tell two deliveries of equal content apart (its id is the event's identity)."""


def _bind(handler: Handler, positional: int, dependencies: Mapping[str, Any]) -> Any:
    wanted = [p for p in list(inspect.signature(handler).parameters)[positional:] if p != ENVELOPE]
    missing = [name for name in wanted if name not in dependencies]
    if missing:
        raise TypeError(f"{handler.__name__} needs {', '.join(missing)}, which bootstrap lacks")
    bound = functools.partial(handler, **{name: dependencies[name] for name in wanted})
    bound.wants_envelope = ENVELOPE in inspect.signature(handler).parameters  # type: ignore[attr-defined]
    return bound


def call(handler: BoundHandler, message: Message, uow: Any, envelope: Envelope) -> Result:
    """Call a bound handler, giving it the envelope if it asked for one."""
    if getattr(handler, "wants_envelope", False):
        return handler(message, uow, envelope=envelope)  # type: ignore[call-arg]
    return handler(message, uow)
