"""Reporting's bootstrap: its tables and its handler table. It announces nothing."""

from __future__ import annotations

from shared.clock import Clock
from shared.contracts import Message
from shared.service import Service, inject

from .handlers import HANDLERS
from .model import Base
from .store import ReportingUnitOfWork

NAME = "reporting"
PUBLISHES: frozenset[type[Message]] = frozenset()


def bootstrap(clock: Clock | None = None, settings: object | None = None) -> Service:
    """``clock`` and ``settings`` are accepted as every worker's bootstrap takes them; reporting
    keeps the times its events carry and has no settings of its own."""
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=ReportingUnitOfWork,
        handlers=inject(HANDLERS),
        publishes=PUBLISHES,
    )
