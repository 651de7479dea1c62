"""Stock, as a specification of orders that wait for goods.

An order short of SKUs that all allow backorders waits: it claims its lines ahead of later
orders (first come, first served), a purchase order covers what is missing, and it gives up when
its timer fires. Goods received serve waiting orders oldest first; a later order never overtakes
an earlier one. Reserving or committing down to a SKU's reorder point buys more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from services.stock.admin import set_policy
from services.stock.bootstrap import bootstrap
from services.stock.model import ReservationStatus
from services.stock.supply import PurchaseOrder, PurchaseOrderStatus
from shared.clock import ManualClock
from shared.contracts import (
    BackorderedLine,
    StockBackorderDue,
    StockBackordered,
    StockBackorderExpired,
    StockReceive,
    StockReleased,
    StockReplenishmentRequested,
    StockReserved,
    StockUnavailable,
    StockWaitlistDue,
)
from shared.errors import PermanentError
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_placed
from tests.unit.stock.test_stock_handlers import (
    Stock,
    cancelled,
    dispatched,
    types,
)

TODAY = date(2026, 3, 2)


def receive(
    quantity: int, purchase_order_id: str | None = None, receipt_id: str = "", sku: str = "MUG-BLUE"
) -> StockReceive:
    receipt_id = receipt_id or f"r-{purchase_order_id}-{quantity}-{sku}"
    return StockReceive(
        receipt_id=receipt_id, sku=sku, quantity=quantity, purchase_order_id=purchase_order_id
    )


def bought(results: Sequence[object]) -> list[StockReplenishmentRequested]:
    return [r for r in results if isinstance(r, StockReplenishmentRequested)]


def purchase_order(stock: Stock, purchase_order_id: str) -> PurchaseOrder:
    order = stock.uow.purchase_orders.get(purchase_order_id)
    assert order is not None
    return order


# -- waiting --------------------------------------------------------------------------------


def test_an_order_waits_when_every_short_sku_allows_backorders(stock: Stock) -> None:
    results = stock(order_placed("ord-1", ("MUG-BLUE", 8)))

    assert types(results) == [
        "stock.backordered",
        "stock.replenishment_requested",
        "timer stock.backorder_due",
    ]
    waiting, purchase, timer = results
    assert isinstance(waiting, StockBackordered) and isinstance(timer, Scheduled)
    assert isinstance(purchase, StockReplenishmentRequested)
    assert (purchase.sku, purchase.quantity, purchase.expected_on) == (
        "MUG-BLUE",
        3,
        TODAY + timedelta(days=7),
    )
    assert waiting.lines == [
        BackorderedLine(
            sku="MUG-BLUE",
            quantity=8,
            purchase_order_id=purchase.purchase_order_id,
            expected_on=TODAY + timedelta(days=7),
        )
    ]
    assert (waiting.expected_on, waiting.expires_on) == (date(2026, 3, 9), date(2026, 3, 23))
    assert timer.message == StockBackorderDue(order_id="ord-1")
    assert timer.due == datetime(2026, 3, 23, tzinfo=UTC)
    assert stock.levels("MUG-BLUE") == (5, 0, 8, 3)  # nothing reserved; all of it claimed
    assert stock.status("ord-1") == ReservationStatus.BACKORDERED
    assert stock.balanced()


def test_an_order_short_of_a_sku_that_cannot_be_backordered_is_unavailable(stock: Stock) -> None:
    [event] = stock(order_placed("ord-1", ("MUG-BLUE", 8), ("TEA-GREEN", 2)))

    assert isinstance(event, StockUnavailable)
    assert [s.sku for s in event.shortages] == ["MUG-BLUE", "TEA-GREEN"]
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)


def test_a_waiting_order_keeps_its_lines_in_stock_ahead_of_later_orders(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 8), ("TEA-GREEN", 1)))

    [event] = stock(order_placed("ord-2", ("TEA-GREEN", 1)))

    assert isinstance(event, StockUnavailable)
    assert [(s.sku, s.available) for s in event.shortages] == [("TEA-GREEN", 0)]
    assert stock.levels("TEA-GREEN") == (1, 0, 1, 0)


def test_a_later_order_waits_for_goods_an_earlier_one_was_promised(stock: Stock) -> None:
    first = stock(order_placed("ord-1", ("MUG-BLUE", 8)))

    second = stock(order_placed("ord-2", ("MUG-BLUE", 2)))

    assert types(second)[0] == "stock.backordered"
    assert [p.quantity for p in bought(first) + bought(second)] == [3, 2]
    assert bought(first)[0].purchase_order_id != bought(second)[0].purchase_order_id
    assert stock.levels("MUG-BLUE") == (5, 0, 10, 5)


def test_an_open_purchase_order_with_room_is_reused(stock: Stock) -> None:
    set_policy(stock.uow, "MUG-BLUE", reorder_quantity=10)
    [purchase] = bought(stock(order_placed("ord-1", ("MUG-BLUE", 8))))

    results = stock(order_placed("ord-2", ("MUG-BLUE", 4)))

    assert types(results) == ["stock.backordered", "timer stock.backorder_due"]
    waiting = results[0]
    assert isinstance(waiting, StockBackordered)
    assert waiting.lines[0].purchase_order_id == purchase.purchase_order_id
    assert purchase.quantity == 10  # the shortage of 3, in whole reorder quantities
    assert stock.levels("MUG-BLUE") == (5, 0, 12, 10)


def test_when_the_open_orders_seen_fall_short_of_what_is_on_order_the_rest_is_bought(
    stock: Stock,
) -> None:
    stock.item("MUG-BLUE").on_order = 10  # an order another replica placed, not seen yet

    results = stock(order_placed("ord-1", ("MUG-BLUE", 8)))

    [purchase] = bought(results)
    assert purchase.quantity == 3
    assert results[0] == StockBackordered(
        order_id="ord-1",
        lines=[
            BackorderedLine(
                sku="MUG-BLUE",
                quantity=8,
                purchase_order_id=purchase.purchase_order_id,
                expected_on=date(2026, 3, 9),
            )
        ],
        expected_on=date(2026, 3, 9),
        expires_on=date(2026, 3, 23),
    )


# -- receiving ------------------------------------------------------------------------------


def test_goods_received_serve_the_waiting_orders_oldest_first(
    stock: Stock, clock: ManualClock
) -> None:
    [first] = bought(stock(order_placed("ord-1", ("MUG-BLUE", 8))))
    clock.advance(timedelta(minutes=1))
    [second] = bought(stock(order_placed("ord-2", ("MUG-BLUE", 2))))

    [event] = stock(receive(3, first.purchase_order_id))

    assert isinstance(event, StockReserved) and event.order_id == "ord-1"
    assert [(line.sku, line.quantity, line.location) for line in event.lines] == [
        ("MUG-BLUE", 8, "A-01-02")
    ]
    assert stock.status("ord-2") == ReservationStatus.BACKORDERED
    assert stock.levels("MUG-BLUE") == (8, 8, 2, 2)
    assert purchase_order(stock, first.purchase_order_id).status == PurchaseOrderStatus.CLOSED

    [event] = stock(receive(2, second.purchase_order_id))

    assert isinstance(event, StockReserved) and event.order_id == "ord-2"
    assert stock.levels("MUG-BLUE") == (10, 10, 0, 0)
    assert stock.balanced()


def test_a_later_order_never_overtakes_an_earlier_one_that_waits_for_more(
    stock: Stock, clock: ManualClock
) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 8)))
    clock.advance(timedelta(minutes=1))
    stock(order_placed("ord-2", ("MUG-BLUE", 1)))

    assert stock(receive(2)) == []  # seven on hand: not enough for the first; the second waits

    [event] = stock(receive(1))
    assert isinstance(event, StockReserved) and event.order_id == "ord-1"
    assert stock.status("ord-2") == ReservationStatus.BACKORDERED


def test_an_order_that_waits_for_one_sku_is_reserved_whole_when_it_comes(stock: Stock) -> None:
    [purchase] = bought(stock(order_placed("ord-1", ("MUG-BLUE", 8), ("TEA-GREEN", 1))))

    [event] = stock(receive(3, purchase.purchase_order_id))

    assert isinstance(event, StockReserved)
    assert [(line.sku, line.quantity) for line in event.lines] == [
        ("MUG-BLUE", 8),
        ("TEA-GREEN", 1),
    ]
    assert stock.levels("TEA-GREEN") == (1, 1, 0, 0)


def test_a_receipt_is_recorded_once(stock: Stock) -> None:
    assert stock(receive(3, receipt_id="r-1")) == []

    assert stock(receive(3, receipt_id="r-1")) == []
    assert stock.levels("MUG-BLUE") == (8, 0, 0, 0)
    assert stock.balanced()


def test_a_partial_receipt_keeps_the_purchase_order_open(stock: Stock) -> None:
    [purchase] = bought(stock(order_placed("ord-1", ("MUG-BLUE", 8))))

    assert stock(receive(2, purchase.purchase_order_id)) == []

    order = purchase_order(stock, purchase.purchase_order_id)
    assert (order.status, order.received, order.outstanding) == (PurchaseOrderStatus.OPEN, 2, 1)
    assert stock.levels("MUG-BLUE") == (7, 0, 8, 1)
    assert types(stock(receive(1, purchase.purchase_order_id))) == ["stock.reserved"]
    assert order.status == PurchaseOrderStatus.CLOSED


def test_a_receipt_that_names_no_purchase_order_fills_the_soonest_expected_first(
    stock: Stock,
) -> None:
    [later] = bought(stock(order_placed("ord-1", ("MUG-BLUE", 8))))
    set_policy(stock.uow, "MUG-BLUE", lead_time_days=3)
    [sooner] = bought(stock(order_placed("ord-2", ("MUG-BLUE", 2))))

    stock(receive(4))

    assert purchase_order(stock, sooner.purchase_order_id).status == PurchaseOrderStatus.CLOSED
    assert purchase_order(stock, later.purchase_order_id).outstanding == 1


def test_a_receipt_for_an_unknown_sku_or_purchase_order_is_refused_naming_the_field(
    stock: Stock,
) -> None:
    with pytest.raises(PermanentError, match=r"^sku: NOPE-1 is not stocked"):
        stock(receive(1, sku="NOPE-1"))
    with pytest.raises(PermanentError, match=r"^purchase_order_id: no purchase order po_nope"):
        stock(receive(1, "po_nope"))
    [purchase] = bought(stock(order_placed("ord-1", ("MUG-BLUE", 8))))
    stock.shelve("TEA-GREEN", 1, backorder_allowed=True)
    with pytest.raises(PermanentError, match=r"^purchase_order_id: .* for TEA-GREEN"):
        stock(receive(1, purchase.purchase_order_id, sku="TEA-GREEN"))


# -- giving up ------------------------------------------------------------------------------


def test_a_waiting_order_gives_up_when_its_timer_fires(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 8)))

    [event] = stock(StockBackorderDue(order_id="ord-1"))

    assert event == StockBackorderExpired(order_id="ord-1")
    assert stock.status("ord-1") == ReservationStatus.EXPIRED
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 3)  # the goods still come
    assert stock(StockBackorderDue(order_id="ord-1")) == []
    assert stock(receive(3)) == []
    assert stock.balanced()


def test_the_timer_of_an_order_that_was_served_does_nothing(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 8)))
    stock(receive(3))

    assert stock(StockBackorderDue(order_id="ord-1")) == []
    assert stock.status("ord-1") == ReservationStatus.RESERVED


def test_a_cancelled_waiting_order_leaves_the_queue(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 8)))

    [event] = stock(cancelled(reason="customer_cancelled"))

    assert event == StockReleased(order_id="ord-1", reason="customer_cancelled")
    assert stock.status("ord-1") == ReservationStatus.CANCELLED
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 3)
    assert stock(receive(3)) == []
    assert stock.balanced()


def test_when_an_order_leaves_the_queue_the_next_one_gets_its_turn(
    stock: Stock, clock: ManualClock
) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 8)))
    clock.advance(timedelta(minutes=1))
    stock(order_placed("ord-2", ("MUG-BLUE", 3)))

    left = stock(StockBackorderDue(order_id="ord-1"))

    assert types(left) == ["stock.backorder_expired", "timer stock.waitlist_due"]
    [event] = stock(StockWaitlistDue(sku="MUG-BLUE"))
    assert isinstance(event, StockReserved) and event.order_id == "ord-2"
    assert stock(StockWaitlistDue(sku="MUG-BLUE")) == []
    assert stock.balanced()


# -- reorder points -------------------------------------------------------------------------


def test_reserving_down_to_the_reorder_point_buys_the_reorder_quantity(stock: Stock) -> None:
    set_policy(stock.uow, "MUG-BLUE", reorder_point=3, reorder_quantity=10)

    results = stock(order_placed("ord-1", ("MUG-BLUE", 2)))

    assert types(results) == ["stock.reserved", "stock.replenishment_requested"]
    [purchase] = bought(results)
    assert (purchase.sku, purchase.quantity) == ("MUG-BLUE", 10)
    assert purchase.expected_on == TODAY + timedelta(days=7)
    assert types(stock(order_placed("ord-2", ("MUG-BLUE", 1)))) == ["stock.reserved"]  # 12 to come
    assert stock.levels("MUG-BLUE") == (5, 3, 0, 10)


def test_committing_checks_the_reorder_point_too(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    set_policy(stock.uow, "MUG-BLUE", reorder_point=5, reorder_quantity=2)

    results = stock(dispatched("ord-1"))

    assert types(results) == ["stock.committed", "stock.replenishment_requested"]
    assert [p.quantity for p in bought(results)] == [4]  # 3 left: whole 2s until above 5
    assert stock.balanced()


def test_a_sku_without_a_reorder_point_is_never_reordered(stock: Stock) -> None:
    assert types(stock(order_placed("ord-1", ("MUG-BLUE", 5)))) == ["stock.reserved"]


# -- settings -------------------------------------------------------------------------------


def test_the_grace_after_the_expected_date_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    session_for: Callable[[Service], Session],
    clock: ManualClock,
) -> None:
    monkeypatch.setenv("ORDERFLOW_STOCK_BACKORDER_GRACE_DAYS", "3")
    service = bootstrap(clock)
    stock = Stock(service, session_for(service), clock)
    stock.shelve("MUG-BLUE", 0, backorder_allowed=True)

    waiting = stock(order_placed("ord-1", ("MUG-BLUE", 1)))[0]

    assert isinstance(waiting, StockBackordered)
    assert waiting.expires_on == waiting.expected_on + timedelta(days=3)
