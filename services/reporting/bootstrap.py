"""Reporting's bootstrap: its tables, its handler table, and the event history it declares on
RabbitMQ. It announces nothing."""

from __future__ import annotations

import functools

from kombu import Queue

from shared.clock import Clock
from shared.contracts import Message
from shared.service import Service, inject
from shared.topology import Topology

from .handlers import HANDLERS
from .model import Base
from .settings import ReportingSettings
from .store import ReportingUnitOfWork

NAME = "reporting"
PUBLISHES: frozenset[type[Message]] = frozenset()


def bootstrap(clock: Clock | None = None, settings: ReportingSettings | None = None) -> Service:
    """``clock`` is taken as every worker's bootstrap takes it: reporting keeps the times its
    events carry, not its own."""
    settings = settings or ReportingSettings()
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=ReportingUnitOfWork,
        handlers=inject(HANDLERS),
        publishes=PUBLISHES,
        declares=functools.partial(history, max_age=settings.history_max_age),
    )


def history(topology: Topology, max_age: str) -> list[Queue]:
    """On RabbitMQ, the stream of every event that a rebuild replays (``docs/reporting.md``);
    kombu's in-memory transport has no streams: there a rebuild reads the workers' outboxes."""
    return [topology.history_queue(max_age)] if topology.quorum else []
