"""Stock, as a specification of after-sales.

A replacement (an exchange's new goods, a resend of missing items) is an order of its own whose
id is the case id: reserved all or nothing, never waiting for goods, and announced with the
order it replaces; then committed and restocked like any order. A customer's return puts its
resellable goods back on the shelf once per RMA (the ledger names the RMA), writes the damaged
ones off, and serves the orders that wait for them.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.stock.bootstrap import bootstrap
from services.stock.model import LedgerEntry, Movement, ReservationStatus
from services.stock.settings import StockSettings
from services.stock.supply import ReturnReceipt
from shared.clock import ManualClock
from shared.contracts import (
    InspectedLine,
    ItemQuantity,
    ReplacementRequested,
    ReservedLine,
    Resolution,
    ReturnReceived,
    StockCommitted,
    StockReserved,
    StockRestocked,
    StockUnavailable,
    StockWaitlistDue,
)
from shared.errors import PermanentError
from shared.timers import Scheduled
from tests.factories import order_placed, replacement_requested, return_received
from tests.unit.stock.test_stock_handlers import Stock, dispatched, returned, types


def items(*wanted: tuple[str, int]) -> list[ItemQuantity]:
    return [ItemQuantity(sku=sku, quantity=quantity) for sku, quantity in wanted]


def inspected(*found: tuple[str, int, int]) -> list[InspectedLine]:
    """(SKU, resellable, damaged) per line."""
    return [InspectedLine(sku=sku, resellable=ok, damaged=bad) for sku, ok, bad in found]


def ledger_of(stock: Stock, reference: str) -> list[tuple[str, str, int]]:
    stock.uow.session.flush()
    query = select(LedgerEntry).where(LedgerEntry.order_id == reference).order_by(LedgerEntry.id)
    return [(e.sku, e.movement, e.quantity) for e in stock.uow.session.scalars(query)]


# -- replacements -----------------------------------------------------------------------------


def test_a_replacement_is_reserved_under_its_case_id_naming_the_order_it_replaces(
    stock: Stock,
) -> None:
    [event] = stock(replacement_requested("ord-1.1", lines=items(("MUG-BLUE", 2))))

    assert event == StockReserved(
        order_id="ord-1.1",
        lines=[ReservedLine(sku="MUG-BLUE", quantity=2, location="A-01-02", unit_weight_grams=350)],
        replaces_order="ord-1",
    )
    assert stock.status("ord-1.1") == ReservationStatus.RESERVED
    assert stock.levels("MUG-BLUE") == (5, 2, 0, 0)
    assert stock.balanced()


def test_a_replacement_short_of_one_line_reserves_nothing(stock: Stock) -> None:
    [event] = stock(replacement_requested(lines=items(("MUG-BLUE", 1), ("TEA-GREEN", 2))))

    assert isinstance(event, StockUnavailable) and event.order_id == "ord-1.1"
    assert [(s.sku, s.requested, s.available) for s in event.shortages] == [("TEA-GREEN", 2, 1)]
    assert stock.status("ord-1.1") == ReservationStatus.UNAVAILABLE
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)
    assert stock.balanced()


def test_a_replacement_never_waits_even_for_a_sku_that_may_be_backordered(stock: Stock) -> None:
    [event] = stock(replacement_requested(lines=items(("MUG-BLUE", 8))))

    assert isinstance(event, StockUnavailable)
    assert [(s.sku, s.requested, s.available) for s in event.shortages] == [("MUG-BLUE", 8, 5)]
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)  # nothing claimed, nothing bought
    assert stock.balanced()


def test_a_replacement_of_an_unknown_sku_is_unavailable(stock: Stock) -> None:
    [event] = stock(replacement_requested(lines=items(("NOPE-1", 1))))

    assert isinstance(event, StockUnavailable) and event.unknown_skus == ["NOPE-1"]


def test_a_replacement_does_not_take_what_waiting_orders_were_promised(stock: Stock) -> None:
    stock(order_placed("ord-2", ("MUG-BLUE", 8)))  # waits, and claims all five on the shelf

    [event] = stock(replacement_requested(lines=items(("MUG-BLUE", 1))))

    assert isinstance(event, StockUnavailable)
    assert event.shortages[0].available == 0


def test_a_repeated_replacement_is_reserved_once(stock: Stock) -> None:
    stock(replacement_requested(lines=items(("MUG-BLUE", 2))))

    assert stock(replacement_requested(lines=items(("MUG-BLUE", 2)))) == []
    assert stock.levels("MUG-BLUE") == (5, 2, 0, 0)


def test_a_case_found_short_stays_unavailable_when_it_comes_again(stock: Stock) -> None:
    stock(replacement_requested(lines=items(("TEA-GREEN", 2))))
    stock.shelve("TEA-GREEN", 5)

    assert stock(replacement_requested(lines=items(("TEA-GREEN", 2)))) == []
    assert stock.status("ord-1.1") == ReservationStatus.UNAVAILABLE
    assert stock.levels("TEA-GREEN") == (5, 0, 0, 0)


def test_each_case_of_an_order_is_reserved_on_its_own(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))

    first = stock(replacement_requested("ord-1.1", lines=items(("MUG-BLUE", 1))))
    second = stock(replacement_requested("ord-1.2", lines=items(("MUG-BLUE", 1))))

    assert types(first) == types(second) == ["stock.reserved"]
    assert stock.levels("MUG-BLUE") == (5, 4, 0, 0)
    assert stock.status("ord-1") == ReservationStatus.RESERVED
    assert stock.balanced()


def test_a_replacement_is_committed_when_dispatched_and_restocked_when_it_comes_back(
    stock: Stock,
) -> None:
    stock(replacement_requested(lines=items(("MUG-BLUE", 2))))

    [committed] = stock(dispatched("ord-1.1"))

    assert isinstance(committed, StockCommitted) and committed.order_id == "ord-1.1"
    assert stock.levels("MUG-BLUE") == (3, 0, 0, 0)
    [restocked] = stock(returned("ord-1.1"))
    assert isinstance(restocked, StockRestocked) and restocked.reason == "returned_to_sender"
    assert restocked.order_id == "ord-1.1"
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)
    assert stock.balanced()


def test_reserving_a_replacement_down_to_the_reorder_point_buys_more(stock: Stock) -> None:
    stock.shelve("MUG-BLUE", 5, reorder_point=4, reorder_quantity=10)

    results = stock(replacement_requested(lines=items(("MUG-BLUE", 1))))

    assert types(results) == ["stock.reserved", "stock.replenishment_requested"]
    assert stock.levels("MUG-BLUE") == (5, 1, 0, 10)
    assert stock.balanced()


# -- customers' returns -----------------------------------------------------------------------


def test_resellable_goods_of_a_return_go_back_on_the_shelf(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 3)))
    stock(dispatched("ord-1"))

    [event] = stock(return_received("ord-1.1", lines=inspected(("MUG-BLUE", 2, 0))))

    assert event == StockRestocked(
        order_id="ord-1",
        lines=[ReservedLine(sku="MUG-BLUE", quantity=2, location="A-01-02", unit_weight_grams=350)],
        reason="returned_by_customer",
    )
    assert stock.levels("MUG-BLUE") == (4, 0, 0, 0)
    assert ledger_of(stock, "ord-1.1") == [("MUG-BLUE", Movement.RESTOCKED, 2)]
    assert stock.balanced()


def test_damaged_goods_are_written_off(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 3), ("TEA-GREEN", 1)))
    stock(dispatched("ord-1"))

    [event] = stock(
        return_received(
            lines=inspected(("MUG-BLUE", 1, 2), ("TEA-GREEN", 0, 1), ("MUG-BLUE", 0, 0))
        )
    )

    assert isinstance(event, StockRestocked)
    assert [(line.sku, line.quantity) for line in event.lines] == [("MUG-BLUE", 1)]
    assert stock.levels("MUG-BLUE") == (3, 0, 0, 0)
    assert stock.levels("TEA-GREEN") == (0, 0, 0, 0)
    assert stock.balanced()


def test_lines_of_the_same_sku_are_restocked_together(stock: Stock) -> None:
    [event] = stock(return_received(lines=inspected(("MUG-BLUE", 1, 0), ("MUG-BLUE", 2, 1))))

    assert isinstance(event, StockRestocked)
    assert [(line.sku, line.quantity) for line in event.lines] == [("MUG-BLUE", 3)]
    assert ledger_of(stock, "ord-1.1") == [("MUG-BLUE", Movement.RESTOCKED, 3)]


def test_a_return_is_restocked_once(stock: Stock) -> None:
    stock(return_received(lines=inspected(("MUG-BLUE", 2, 0))))

    assert stock(return_received(lines=inspected(("MUG-BLUE", 2, 0)))) == []
    assert stock.levels("MUG-BLUE") == (7, 0, 0, 0)
    assert stock.balanced()


def test_each_rma_of_an_order_is_restocked_on_its_own(stock: Stock) -> None:
    stock(return_received("ord-1.1", lines=inspected(("MUG-BLUE", 1, 0))))

    [event] = stock(return_received("ord-1.2", lines=inspected(("MUG-BLUE", 1, 0))))

    assert isinstance(event, StockRestocked) and event.order_id == "ord-1"
    assert stock.levels("MUG-BLUE") == (7, 0, 0, 0)


def test_a_return_of_nothing_resellable_announces_nothing_and_is_recorded(stock: Stock) -> None:
    assert stock(return_received(lines=inspected(("MUG-BLUE", 0, 2)))) == []

    receipt = stock.uow.returns.get("ord-1.1")
    assert receipt is not None and (receipt.order_id, receipt.lines) == ("ord-1", {})
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)
    assert ledger_of(stock, "ord-1.1") == []


def test_a_return_of_a_sku_stock_does_not_know_is_refused_and_changes_nothing(
    stock: Stock,
) -> None:
    lines = inspected(("MUG-BLUE", 1, 0), ("NOPE-1", 1, 0), ("NOPE-2", 0, 1))

    with pytest.raises(PermanentError, match=r"^sku: NOPE-1 is not stocked"):
        stock(return_received(lines=lines))

    assert stock.uow.returns.get("ord-1.1") is None
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)


def test_returned_goods_go_first_to_orders_that_wait_for_them(stock: Stock) -> None:
    stock(order_placed("ord-2", ("MUG-BLUE", 6)))  # waits for one more

    results = stock(return_received(lines=inspected(("MUG-BLUE", 1, 0), ("TEA-GREEN", 1, 0))))

    assert types(results) == ["stock.restocked", "timer stock.waitlist_due"]
    timer = results[1]
    assert isinstance(timer, Scheduled) and timer.message == StockWaitlistDue(sku="MUG-BLUE")
    [event] = stock(timer.message)
    assert isinstance(event, StockReserved) and event.order_id == "ord-2"
    assert event.replaces_order is None
    assert stock.levels("MUG-BLUE")[:3] == (6, 6, 0)
    assert stock.balanced()


@pytest.mark.parametrize("return_first", [True, False], ids=["return-first", "replacement-first"])
def test_an_exchange_restocks_its_rma_and_reserves_its_replacement_under_the_same_case_id(
    stock: Stock, return_first: bool
) -> None:
    stock.shelve("TEA-GREEN", 0)
    returned_goods = return_received(
        "ord-1.1", resolution=Resolution.EXCHANGE, lines=inspected(("TEA-GREEN", 1, 0))
    )
    replacement = replacement_requested("ord-1.1", lines=items(("TEA-GREEN", 1)))

    if return_first:
        assert types(stock(returned_goods)) == ["stock.restocked"]
        assert types(stock(replacement)) == ["stock.reserved"]
    else:
        assert types(stock(replacement)) == ["stock.unavailable"]  # nothing on the shelf yet
        assert types(stock(returned_goods)) == ["stock.restocked"]

    assert stock(returned_goods) == stock(replacement) == []
    receipt = stock.uow.returns.get("ord-1.1")
    assert isinstance(receipt, ReturnReceipt) and receipt.lines == {"TEA-GREEN": 1}
    expected = ReservationStatus.RESERVED if return_first else ReservationStatus.UNAVAILABLE
    assert stock.status("ord-1.1") == expected
    assert stock.levels("TEA-GREEN")[:2] == (1, 1 if return_first else 0)
    assert stock.balanced()


def test_stock_subscribes_to_replacements_and_customers_returns(clock: ManualClock) -> None:
    service = bootstrap(clock, StockSettings())

    assert {ReplacementRequested, ReturnReceived} <= set(service.subscriptions)
