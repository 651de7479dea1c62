"""The shelves most of stock's specifications start from."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from services.stock.bootstrap import bootstrap
from services.stock.settings import StockSettings
from shared.clock import ManualClock
from shared.service import Service
from tests.unit.stock.test_stock_handlers import Stock


@pytest.fixture
def stock(session_for: Callable[[Service], Session], clock: ManualClock) -> Stock:
    """Five blue mugs, which may be backordered (supplier: 7 days); one green tea, which not."""
    service = bootstrap(clock, StockSettings())
    stock = Stock(service, session_for(service), clock)
    stock.shelve("MUG-BLUE", 5, "A-01-02", backorder_allowed=True)
    stock.shelve("TEA-GREEN", 1, "B-02-01")
    return stock
