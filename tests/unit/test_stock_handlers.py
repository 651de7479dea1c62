"""Stock, as a specification: reserve all or nothing, commit on dispatch, release on failure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy.orm import Session

from services.stock import worker
from services.stock.handlers import on_order_placed, on_payment_failed, on_shipment_dispatched
from services.stock.model import Item
from services.stock.store import StockUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Money,
    OrderLine,
    PaymentFailed,
    PaymentMethod,
    ShipmentDispatched,
    StockCommitted,
    StockReleased,
    StockReserved,
    StockUnavailable,
)
from shared.handlers import Service
from tests.factories import order_placed


@pytest.fixture
def uow(session_for: Callable[[Service], Session]) -> StockUnitOfWork:
    unit = StockUnitOfWork(session_for(worker.bootstrap()))
    unit.items.add(
        Item(sku="MUG-BLUE", on_hand=5, reserved=0, location="A-01-02", weight_grams=350)
    )
    unit.items.add(
        Item(sku="TEA-GREEN", on_hand=1, reserved=0, location="B-02-01", weight_grams=100)
    )
    return unit


def dispatched(order_id: str = "ord-1") -> ShipmentDispatched:
    return ShipmentDispatched(
        order_id=order_id,
        shipment_id="shp-1",
        carrier="DHL",
        service="standard",
        tracking_number="TRK1",
        expected_delivery=date(2026, 3, 5),
        cost=Money(amount=590, currency="EUR"),
    )


def test_reserves_every_line_when_all_are_available(
    uow: StockUnitOfWork, clock: ManualClock
) -> None:
    [event] = on_order_placed(order_placed(), uow, clock)

    assert isinstance(event, StockReserved)
    assert [(line.sku, line.quantity, line.location) for line in event.lines] == [
        ("MUG-BLUE", 2, "A-01-02")
    ]
    assert uow.items.get("MUG-BLUE").reserved == 2  # type: ignore[union-attr]


def test_reserves_nothing_when_one_line_is_short(uow: StockUnitOfWork, clock: ManualClock) -> None:
    lines = [
        OrderLine(sku="MUG-BLUE", quantity=1, unit_price=100),
        OrderLine(sku="TEA-GREEN", quantity=3, unit_price=100),
    ]

    [event] = on_order_placed(order_placed(lines=lines), uow, clock)

    assert isinstance(event, StockUnavailable)
    assert [(s.sku, s.requested, s.available) for s in event.shortages] == [("TEA-GREEN", 3, 1)]
    assert uow.items.get("MUG-BLUE").reserved == 0  # type: ignore[union-attr]


def test_an_unknown_sku_makes_the_order_unavailable(
    uow: StockUnitOfWork, clock: ManualClock
) -> None:
    lines = [OrderLine(sku="NOPE-1", quantity=1, unit_price=100)]

    [event] = on_order_placed(order_placed(lines=lines), uow, clock)

    assert isinstance(event, StockUnavailable)
    assert event.unknown_skus == ["NOPE-1"]


def test_the_same_order_is_reserved_once(uow: StockUnitOfWork, clock: ManualClock) -> None:
    on_order_placed(order_placed(), uow, clock)

    assert on_order_placed(order_placed(), uow, clock) == []
    assert uow.items.get("MUG-BLUE").reserved == 2  # type: ignore[union-attr]


def test_dispatch_turns_the_reservation_into_a_deduction(
    uow: StockUnitOfWork, clock: ManualClock
) -> None:
    on_order_placed(order_placed(), uow, clock)

    [event] = on_shipment_dispatched(dispatched(), uow, clock)

    item = uow.items.get("MUG-BLUE")
    assert isinstance(event, StockCommitted)
    assert (item.on_hand, item.reserved) == (3, 0)  # type: ignore[union-attr]
    assert on_shipment_dispatched(dispatched(), uow, clock) == []


def test_failed_payment_releases_the_reservation(uow: StockUnitOfWork, clock: ManualClock) -> None:
    on_order_placed(order_placed(), uow, clock)
    failed = PaymentFailed(
        order_id="ord-1", payment_id="pay-1", method=PaymentMethod.CARD, reason="declined"
    )

    [event] = on_payment_failed(failed, uow, clock)

    assert isinstance(event, StockReleased)
    item = uow.items.get("MUG-BLUE")
    assert (item.on_hand, item.reserved) == (5, 0)  # type: ignore[union-attr]
    assert on_payment_failed(failed, uow, clock) == []
