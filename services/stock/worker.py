"""Stock's bootstrap: its tables, its handler table and their dependencies."""

from __future__ import annotations

from shared.clock import Clock, SystemClock
from shared.handlers import Service, inject

from .handlers import HANDLERS
from .model import Base
from .store import StockUnitOfWork

NAME = "stock"


def bootstrap(clock: Clock | None = None) -> Service:
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=StockUnitOfWork,
        handlers=inject(HANDLERS, clock=clock or SystemClock()),
    )
