"""Reporting's bootstrap: its tables and its handler table. It announces nothing, hears its
events in batches (``shared.event_batches``: seven events an order would be seven deliveries),
and keeps no inbox: its read model is the same however often and in whatever order an event is
applied (``services.reporting.model``)."""

from __future__ import annotations

from shared.clock import Clock
from shared.contracts import Message
from shared.service import Service, inject

from .handlers import HANDLERS
from .model import Base
from .store import ReportingUnitOfWork

NAME = "reporting"
PUBLISHES: frozenset[type[Message]] = frozenset()


def bootstrap(clock: Clock | None = None) -> Service:
    """``clock`` is taken as every worker's bootstrap takes it: reporting keeps the times its
    events carry, not its own."""
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=ReportingUnitOfWork,
        handlers=inject(HANDLERS),
        publishes=PUBLISHES,
        inbox=False,
        batched=True,
    )
