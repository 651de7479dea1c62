"""Stock's bootstrap: its tables, its handler table and their dependencies."""

from __future__ import annotations

from datetime import timedelta

from shared.clock import Clock, SystemClock
from shared.handlers import Service, inject

from .handlers import HANDLERS
from .model import Base
from .settings import StockSettings
from .store import StockUnitOfWork

NAME = "stock"


def bootstrap(clock: Clock | None = None, settings: StockSettings | None = None) -> Service:
    settings = settings or StockSettings()
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=StockUnitOfWork,
        handlers=inject(
            HANDLERS,
            clock=clock or SystemClock(),
            backorder_grace=timedelta(days=settings.backorder_grace_days),
        ),
    )
