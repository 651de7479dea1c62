"""Intake's bootstrap: its tables, its handler tables and their dependencies."""

from __future__ import annotations

from datetime import timedelta

from shared.clock import Clock, SystemClock
from shared.handlers import Service, inject

from .handlers import HANDLERS, INVALID_HANDLERS
from .model import Base
from .settings import IntakeSettings
from .store import IntakeUnitOfWork
from .submission import OrderPolicy

NAME = "intake"


def bootstrap(clock: Clock | None = None, settings: IntakeSettings | None = None) -> Service:
    settings = settings or IntakeSettings()
    clock = clock or SystemClock()
    policy = OrderPolicy(
        currencies=frozenset(settings.accepted_currencies),
        countries=frozenset(settings.served_countries),
        payment_methods=frozenset(settings.accepted_payment_methods),
        max_total=settings.max_order_total,
    )
    window = timedelta(seconds=settings.completion_window_seconds)
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=IntakeUnitOfWork,
        handlers=inject(HANDLERS, clock=clock, policy=policy, completion_window=window),
        invalid_handlers=inject(INVALID_HANDLERS, positional=3, clock=clock),
    )
