"""Intake's bootstrap: its tables, its handler tables, what it publishes and their dependencies."""

from __future__ import annotations

from datetime import timedelta

from shared.clock import Clock, SystemClock
from shared.contracts import (
    Message,
    OrderApproved,
    OrderCancelled,
    OrderCompleted,
    OrderHeld,
    OrderPlaced,
    OrderRejected,
)
from shared.service import Service, inject

from .estimate import DeliveryEstimate
from .gauges import SagaGauges
from .handlers import HANDLERS, INVALID_HANDLERS
from .model import Base
from .review import Review
from .settings import IntakeSettings
from .store import IntakeUnitOfWork
from .submission import OrderPolicy

NAME = "intake"
PUBLISHES: frozenset[type[Message]] = frozenset(
    {OrderApproved, OrderCancelled, OrderCompleted, OrderHeld, OrderPlaced, OrderRejected}
)


def bootstrap(clock: Clock | None = None, settings: IntakeSettings | None = None) -> Service:
    settings = settings or IntakeSettings()
    clock = clock or SystemClock()
    handlers = inject(
        HANDLERS,
        clock=clock,
        policy=OrderPolicy.from_settings(settings),
        estimate=DeliveryEstimate(dict(settings.delivery_days)),
        completion_window=timedelta(seconds=settings.completion_window_seconds),
        review=Review.from_settings(settings),
    )
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=IntakeUnitOfWork,
        handlers=handlers,
        publishes=PUBLISHES,
        invalid_handlers=inject(INVALID_HANDLERS, positional=3, clock=clock),
        gauges=SagaGauges(settings.stuck_after_seconds),
    )
