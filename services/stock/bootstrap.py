"""Stock's bootstrap: its tables, its handler table, what it publishes and their dependencies."""

from __future__ import annotations

from datetime import timedelta

from shared.clock import Clock, SystemClock
from shared.contracts import (
    Message,
    StockAdjusted,
    StockBackordered,
    StockBackorderExpired,
    StockCommitted,
    StockCounted,
    StockItemListed,
    StockReleased,
    StockReplenishmentRequested,
    StockReserved,
    StockRestocked,
    StockUnavailable,
)
from shared.service import Service, inject

from .handlers import HANDLERS
from .model import Base
from .settings import StockSettings
from .store import StockUnitOfWork

NAME = "stock"
PUBLISHES: frozenset[type[Message]] = frozenset(
    {
        StockAdjusted,
        StockBackordered,
        StockBackorderExpired,
        StockCommitted,
        StockCounted,
        StockItemListed,
        StockReleased,
        StockReplenishmentRequested,
        StockReserved,
        StockRestocked,
        StockUnavailable,
    }
)
"""``stock.item_listed`` comes from the operator's ``stock set`` (``admin.py``), not a handler."""


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
        publishes=PUBLISHES,
    )
