"""After-sales, as a specification: a delivery opens the order's return window, once.

Returns, RMAs and exchanges come in the next issue; for now nothing is announced.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.aftersales import worker
from services.aftersales.handlers import on_shipment_delivered
from services.aftersales.model import ReturnWindow
from services.aftersales.settings import AftersalesSettings
from services.aftersales.store import AftersalesUnitOfWork
from shared.clock import ManualClock
from shared.contracts import ShipmentDelivered
from shared.handlers import Service
from tests.unit.conftest import QueryCounter

DELIVERED_AT = datetime(2026, 3, 4, 15, 20, tzinfo=UTC)
THIRTY_DAYS = timedelta(days=30)


@pytest.fixture
def uow(session_for: Callable[[Service], Session], clock: ManualClock) -> AftersalesUnitOfWork:
    return AftersalesUnitOfWork(session_for(worker.bootstrap(clock, AftersalesSettings())))


def delivered(at: datetime = DELIVERED_AT, order_id: str = "ord-1") -> ShipmentDelivered:
    return ShipmentDelivered(
        order_id=order_id,
        shipment_id=f"shp-{order_id}",
        tracking_number="DPD0000000000000042",
        delivered_at=at,
    )


def window_of(uow: AftersalesUnitOfWork, order_id: str = "ord-1") -> ReturnWindow:
    window = uow.return_windows.for_order(order_id)
    assert window is not None
    return window


def test_a_delivery_opens_a_thirty_day_return_window(uow: AftersalesUnitOfWork) -> None:
    assert on_shipment_delivered(delivered(), uow, THIRTY_DAYS) == []

    window = window_of(uow)
    assert (window.delivered_at, window.returnable_until) == (
        DELIVERED_AT,
        datetime(2026, 4, 3, 15, 20, tzinfo=UTC),
    )


def test_a_repeated_delivery_leaves_the_window_as_it_was(uow: AftersalesUnitOfWork) -> None:
    on_shipment_delivered(delivered(), uow, THIRTY_DAYS)

    assert (
        on_shipment_delivered(delivered(DELIVERED_AT + timedelta(days=3)), uow, THIRTY_DAYS) == []
    )
    assert window_of(uow).returnable_until == DELIVERED_AT + THIRTY_DAYS


def test_an_order_not_yet_delivered_has_no_return_window(uow: AftersalesUnitOfWork) -> None:
    on_shipment_delivered(delivered(order_id="ord-1"), uow, THIRTY_DAYS)

    assert uow.return_windows.for_order("ord-2") is None


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (DELIVERED_AT - timedelta(seconds=1), False),
        (DELIVERED_AT, True),
        (DELIVERED_AT + THIRTY_DAYS, True),
        (DELIVERED_AT + THIRTY_DAYS + timedelta(seconds=1), False),
    ],
)
def test_returns_are_allowed_from_delivery_until_the_window_closes(
    uow: AftersalesUnitOfWork, at: datetime, allowed: bool
) -> None:
    on_shipment_delivered(delivered(), uow, THIRTY_DAYS)

    assert window_of(uow).allows_return_at(at) is allowed


def test_the_window_length_is_a_setting(
    session_for: Callable[[Service], Session], clock: ManualClock
) -> None:
    service = worker.bootstrap(clock, AftersalesSettings(return_window_days=14))
    uow = AftersalesUnitOfWork(session_for(service))

    assert list(service.handlers[ShipmentDelivered](delivered(), uow)) == []

    assert window_of(uow).returnable_until == DELIVERED_AT + timedelta(days=14)


def test_the_window_length_is_read_from_the_environment_when_not_given(
    monkeypatch: pytest.MonkeyPatch,
    session_for: Callable[[Service], Session],
    clock: ManualClock,
) -> None:
    monkeypatch.setenv("ORDERFLOW_AFTERSALES_RETURN_WINDOW_DAYS", "7")
    service = worker.bootstrap(clock)
    uow = AftersalesUnitOfWork(session_for(service))

    list(service.handlers[ShipmentDelivered](delivered(), uow))

    assert window_of(uow).returnable_until == DELIVERED_AT + timedelta(days=7)


def test_a_batch_costs_the_same_few_selects_however_many_orders_it_holds(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    service = worker.bootstrap(clock, AftersalesSettings())
    session = session_for(service)
    counter = count_queries(session)
    first = [delivered(order_id=f"ord-{n}") for n in range(20)]
    # half of the second batch were delivered before (found, left as they were), half are new
    again = [
        delivered(DELIVERED_AT + timedelta(days=1), order_id=f"ord-{n}") for n in range(10, 30)
    ]

    selects = []
    for batch in (first, again):
        with Session(session.get_bind(), expire_on_commit=False) as transaction:
            before = counter.selects
            uow = AftersalesUnitOfWork(transaction)
            uow.preload(batch)
            for message in batch:
                assert list(service.handlers[ShipmentDelivered](message, uow)) == []
            transaction.commit()
            selects.append(counter.selects - before)

    windows = {w.order_id: w.delivered_at for w in session.scalars(select(ReturnWindow))}
    assert windows == {
        f"ord-{n}": DELIVERED_AT if n < 20 else DELIVERED_AT + timedelta(days=1) for n in range(30)
    }
    assert selects == [1, 1]
