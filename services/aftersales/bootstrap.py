"""After-sales' bootstrap: its tables, its handler table, what it publishes, its dependencies."""

from __future__ import annotations

from shared.clock import Clock, SystemClock
from shared.contracts import (
    AftersalesCaseClosed,
    AftersalesRequestRefused,
    Message,
    RefundRequested,
    ReplacementRequested,
    ReturnAuthorized,
    ReturnExpired,
    ReturnReceived,
)
from shared.service import Service, inject

from .handlers import HANDLERS
from .model import Base
from .settings import AftersalesSettings
from .store import AftersalesUnitOfWork

NAME = "aftersales"
PUBLISHES: frozenset[type[Message]] = frozenset(
    {
        AftersalesCaseClosed,
        AftersalesRequestRefused,
        RefundRequested,
        ReplacementRequested,
        ReturnAuthorized,
        ReturnExpired,
        ReturnReceived,
    }
)


def bootstrap(clock: Clock | None = None, settings: AftersalesSettings | None = None) -> Service:
    settings = settings or AftersalesSettings()
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=AftersalesUnitOfWork,
        handlers=inject(HANDLERS, clock=clock or SystemClock(), policy=settings.policy),
        publishes=PUBLISHES,
    )
