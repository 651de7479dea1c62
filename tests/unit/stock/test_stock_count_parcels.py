"""Stock, as a specification of a count taken while parcels wait for the carrier.

Packed units are off the shelf but still on stock's books (on hand, reserved) until the
shipment is dispatched. Stock hears ``fulfillment.packed`` and keeps those units as in parcels:
a count compares the shelf with on hand less what is in parcels, so units packed are not posted
as lost, and a packed order never loses its reservation to a short count (its goods exist; only
the shelf's orders can be cut). Once dispatched, the units leave the books as before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session

from services.stock.model import Movement, ReservationStatus
from shared.clock import ManualClock
from shared.contracts import (
    CountedLine,
    StockAdjusted,
    StockCounted,
    StockUnavailable,
)
from tests.factories import order_placed
from tests.unit.conftest import QueryCounter
from tests.unit.stock.test_stock_count import count, ledger, of_type
from tests.unit.stock.test_stock_handlers import (
    Stock,
    cancelled,
    dispatched,
    packed,
    returned,
    types,
)


def test_a_count_while_parcels_wait_for_the_carrier_books_no_lost_units(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    assert stock(packed("ord-1", ("MUG-BLUE", 2))) == []

    results = stock(count(("MUG-BLUE", 3)))  # 5 on the books, 2 of them in a parcel

    assert types(results) == ["stock.counted"]
    [report] = of_type(results, StockCounted)
    assert report.lines == [
        CountedLine(sku="MUG-BLUE", books=5, in_parcels=2, counted=3, difference=0, reason=None)
    ]
    assert ledger(stock, "cnt-1") == []
    assert stock.levels("MUG-BLUE") == (5, 2, 0, 0)
    assert stock.balanced()


def test_what_the_shelf_lacks_beyond_the_parcels_is_lost(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    stock(packed("ord-1", ("MUG-BLUE", 2)))

    results = stock(count(("MUG-BLUE", 1)))

    [adjusted] = of_type(results, StockAdjusted)
    assert (adjusted.quantity, adjusted.on_hand, adjusted.reason) == (-2, 3, "lost")
    assert ledger(stock, "cnt-1") == [("MUG-BLUE", Movement.LOST, -2)]
    assert stock.balanced()


def test_a_packed_order_keeps_its_goods_when_the_shelf_is_short(
    stock: Stock, clock: ManualClock
) -> None:
    """The packed order is the newest, yet it is the shelf's order that is cut: the parcel holds
    its goods whatever the shelf lacks."""
    stock(order_placed("ord-shelf", ("MUG-BLUE", 2)))
    clock.advance(timedelta(minutes=1))
    stock(order_placed("ord-packed", ("MUG-BLUE", 3)))
    stock(packed("ord-packed", ("MUG-BLUE", 3)))

    results = stock(count(("MUG-BLUE", 1)))

    assert [u.order_id for u in of_type(results, StockUnavailable)] == ["ord-shelf"]
    assert stock.status("ord-packed") == ReservationStatus.RESERVED
    assert stock.levels("MUG-BLUE") == (4, 3, 0, 0)  # 1 on the shelf, 3 in the parcel
    assert stock.balanced()


def test_a_count_with_every_unit_in_parcels_cuts_no_order(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 5)))
    stock(packed("ord-1", ("MUG-BLUE", 5)))

    results = stock(count(("MUG-BLUE", 0)))

    assert types(results) == ["stock.counted"]
    assert stock.status("ord-1") == ReservationStatus.RESERVED


def test_dispatched_units_leave_the_books_and_the_parcels(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    stock(packed("ord-1", ("MUG-BLUE", 2)))
    stock(dispatched("ord-1"))

    results = stock(count(("MUG-BLUE", 3)))

    [report] = of_type(results, StockCounted)
    assert report.lines == [
        CountedLine(sku="MUG-BLUE", books=3, in_parcels=0, counted=3, difference=0, reason=None)
    ]
    assert stock.balanced()


def test_a_late_or_repeated_packed_changes_nothing(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    stock(packed("ord-1", ("MUG-BLUE", 2)))
    assert stock(packed("ord-1", ("MUG-BLUE", 2))) == []
    stock(dispatched("ord-1"))
    assert stock(packed("ord-1", ("MUG-BLUE", 2))) == []  # after the dispatch
    assert stock(packed("ord-unknown", ("MUG-BLUE", 1))) == []

    [report] = of_type(stock(count(("MUG-BLUE", 3))), StockCounted)

    assert report.lines[0].in_parcels == 0
    assert stock.status("ord-1") == ReservationStatus.COMMITTED


def test_parcels_that_come_back_are_on_the_shelf_again(stock: Stock) -> None:
    """Returned to sender with the dispatch unseen: committed and restocked, out of parcels."""
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    stock(packed("ord-1", ("MUG-BLUE", 2)))
    stock(returned("ord-1"))

    [report] = of_type(stock(count(("MUG-BLUE", 5))), StockCounted)

    assert (report.lines[0].in_parcels, report.lines[0].difference) == (0, 0)
    assert stock.balanced()


def test_a_packed_order_cancelled_all_the_same_gives_its_units_back_to_the_shelf(
    stock: Stock,
) -> None:
    """Its parcels never leave, so they are unpacked: the units are on the shelf again."""
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    stock(packed("ord-1", ("MUG-BLUE", 2)))
    stock(cancelled("ord-1"))

    [report] = of_type(stock(count(("MUG-BLUE", 5))), StockCounted)

    assert (report.lines[0].in_parcels, report.lines[0].difference) == (0, 0)
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)
    assert stock.balanced()


def test_a_batch_of_packed_orders_locks_their_reservations_and_no_sku(
    stock: Stock, count_queries: Callable[[Session], QueryCounter]
) -> None:
    """Packing changes only the order's row here: a hot SKU's row stays free for new orders."""
    for n in range(3):
        stock(order_placed(f"ord-{n}", ("MUG-BLUE", 1)))
    stock.uow.session.commit()
    batch = Stock(stock.service, Session(stock.uow.session.get_bind()), stock.clock)
    messages = [packed(f"ord-{n}", ("MUG-BLUE", 1)) for n in range(3)]

    counter = count_queries(batch.uow.session)
    batch.uow.preload(messages)

    assert [r for m in messages for r in batch(m)] == []
    assert counter.selects == 1
    assert "items" not in " ".join(counter.statements)
    batch.uow.session.close()
