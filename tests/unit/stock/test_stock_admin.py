"""Operator actions on stock: set a SKU's level after a stock take, and how it is bought."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from services.stock.admin import StockError, set_level, set_policy
from services.stock.bootstrap import bootstrap
from services.stock.settings import StockSettings
from shared.clock import ManualClock
from shared.contracts import StockItemListed
from shared.service import Service
from tests.factories import order_placed
from tests.unit.stock.test_stock_handlers import Stock


@pytest.fixture
def stock(session_for: Callable[[Service], Session], clock: ManualClock) -> Stock:
    service = bootstrap(clock, StockSettings())
    stock = Stock(service, session_for(service), clock)
    stock.shelve("MUG-BLUE", 5)
    return stock


def test_a_policy_sets_what_is_given_and_keeps_the_rest(stock: Stock) -> None:
    item = set_policy(stock.uow, "MUG-BLUE", backorder_allowed=True, lead_time_days=3)

    assert (item.backorder_allowed, item.lead_time_days) == (True, 3)
    assert (item.reorder_point, item.reorder_quantity) == (0, 0)

    set_policy(stock.uow, "MUG-BLUE", reorder_point=4, reorder_quantity=12)
    assert (item.backorder_allowed, item.lead_time_days, item.reorder_point) == (True, 3, 4)


def test_a_new_item_may_not_be_backordered_and_has_a_week_of_lead_time(stock: Stock) -> None:
    item = set_level(stock.uow, "PEN-RED", 3, stock.clock.now()).result

    assert (item.backorder_allowed, item.reorder_point, item.lead_time_days) == (False, 0, 7)


@pytest.mark.parametrize(
    ("sku", "change", "refusal"),
    [
        ("NOPE-1", {"backorder_allowed": True}, "sku: NOPE-1 is not stocked"),
        ("MUG-BLUE", {"reorder_point": -1}, "reorder_point: must be 0 or more, got -1"),
        ("MUG-BLUE", {"reorder_quantity": -5}, "reorder_quantity: must be 0 or more, got -5"),
        ("MUG-BLUE", {"lead_time_days": -1}, "lead_time_days: must be 0 or more, got -1"),
        ("MUG-BLUE", {"lead_time_days": 400}, "lead_time_days: must be at most 365, got 400"),
        ("MUG-BLUE", {"reorder_point": 4}, "reorder_quantity: must be more than 0 when"),
    ],
)
def test_a_policy_that_makes_no_sense_is_refused_naming_the_field(
    stock: Stock, sku: str, change: dict[str, object], refusal: str
) -> None:
    with pytest.raises(StockError, match=f"^{refusal}"):
        set_policy(stock.uow, sku, **change)  # type: ignore[arg-type]

    item = stock.item("MUG-BLUE")
    assert (item.reorder_point, item.reorder_quantity, item.lead_time_days) == (0, 0, 7)


def test_a_level_below_what_is_reserved_is_refused(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 4)))

    with pytest.raises(StockError, match=r"^quantity: MUG-BLUE has 4 reserved"):
        set_level(stock.uow, "MUG-BLUE", 3, stock.clock.now())


def test_setting_a_level_announces_the_sku_as_listed_every_time(stock: Stock) -> None:
    """Intake keeps its catalogue from these: a new SKU, and one set again (which makes up
    for an announcement that never arrived)."""
    new = set_level(stock.uow, "PEN-RED", 3, stock.clock.now())
    again = set_level(stock.uow, "MUG-BLUE", 9, stock.clock.now())

    assert new.announced == [StockItemListed(sku="PEN-RED")]
    assert again.announced == [StockItemListed(sku="MUG-BLUE")]
    assert again.announced[0].subject == "sku:MUG-BLUE"
    assert (new.result.on_hand, again.result.on_hand) == (3, 9)
