"""Stock, as a specification of a count sent some time after its shelves were counted.

A line says when its shelf was counted (``counted_at``). Stock compares it with the books as
they stood then: what was received, dispatched or returned since is taken off on hand, and the
units in parcels are those packed by then and not dispatched before. So work that goes on
between the count and its import shows no difference; the difference found then is posted now.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.clock import ManualClock
from shared.contracts import CountedLine, CountedSku, StockAdjusted, StockCount, StockCounted
from tests.factories import order_placed
from tests.unit.stock.test_stock_backorders import receive
from tests.unit.stock.test_stock_count import of_type
from tests.unit.stock.test_stock_handlers import Stock, dispatched, packed, returned

MINUTE = timedelta(minutes=1)


def counted_then(sku: str, counted: int, at: datetime, count_id: str = "cnt-1") -> StockCount:
    return StockCount(
        count_id=count_id, lines=[CountedSku(sku=sku, counted=counted, counted_at=at)]
    )


def report_line(results: list[object]) -> CountedLine:
    [report] = of_type(results, StockCounted)
    [line] = report.lines
    return line


def later(clock: ManualClock) -> datetime:
    clock.advance(MINUTE)
    return clock.now()


def test_a_parcel_packed_after_the_shelf_was_counted_is_not_found(
    stock: Stock, clock: ManualClock
) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    counted_at = later(clock)  # the five mugs were on the shelf
    later(clock)
    stock(packed("ord-1", ("MUG-BLUE", 2)))
    later(clock)

    results = stock(counted_then("MUG-BLUE", 5, counted_at))

    assert report_line(results) == CountedLine(
        sku="MUG-BLUE",
        books=5,
        in_parcels=0,
        counted=5,
        difference=0,
        reason=None,
        counted_at=counted_at,
    )
    assert of_type(results, StockAdjusted) == []
    assert stock.levels("MUG-BLUE") == (5, 2, 0, 0)


def test_a_parcel_packed_before_and_dispatched_after_the_count_was_off_the_shelf(
    stock: Stock, clock: ManualClock
) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    later(clock)
    stock(packed("ord-1", ("MUG-BLUE", 2)))
    counted_at = later(clock)  # three on the shelf, two in the parcel
    later(clock)
    stock(dispatched("ord-1"))
    later(clock)

    results = stock(counted_then("MUG-BLUE", 3, counted_at))

    line = report_line(results)
    assert (line.books, line.in_parcels, line.difference) == (5, 2, 0)
    assert stock.levels("MUG-BLUE") == (3, 0, 0, 0)
    assert stock.balanced()


def test_goods_received_after_the_count_are_not_lost(stock: Stock, clock: ManualClock) -> None:
    counted_at = later(clock)
    later(clock)
    stock(receive(10))

    results = stock(counted_then("MUG-BLUE", 5, counted_at))

    line = report_line(results)
    assert (line.books, line.difference) == (5, 0)
    assert stock.levels("MUG-BLUE")[0] == 15


def test_a_difference_found_then_is_posted_on_todays_books(
    stock: Stock, clock: ManualClock
) -> None:
    """One mug was missing when the shelf was counted; ten came in since: fourteen now."""
    counted_at = later(clock)
    later(clock)
    stock(receive(10))

    results = stock(counted_then("MUG-BLUE", 4, counted_at))

    [adjusted] = of_type(results, StockAdjusted)
    assert (adjusted.quantity, adjusted.on_hand, adjusted.reason) == (-1, 14, "lost")
    assert stock.levels("MUG-BLUE")[0] == 14
    assert stock.balanced()


def test_parcels_returned_after_the_count_were_in_their_parcels_then(
    stock: Stock, clock: ManualClock
) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    later(clock)
    stock(packed("ord-1", ("MUG-BLUE", 2)))
    counted_at = later(clock)
    later(clock)
    stock(returned("ord-1"))  # the dispatch unseen: committed and restocked now

    line = report_line(stock(counted_then("MUG-BLUE", 3, counted_at)))

    assert (line.books, line.in_parcels, line.difference) == (5, 2, 0)
    assert stock.balanced()


def test_a_count_dated_in_the_future_is_taken_as_now(stock: Stock, clock: ManualClock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 2)))
    stock(packed("ord-1", ("MUG-BLUE", 2)))

    line = report_line(stock(counted_then("MUG-BLUE", 3, clock.now() + timedelta(hours=1))))

    assert (line.books, line.in_parcels, line.difference) == (5, 2, 0)


def test_each_line_is_compared_at_its_own_moment(stock: Stock, clock: ManualClock) -> None:
    """Aisles are counted one after another: the tea before the goods came, the mugs after."""
    tea_counted = later(clock)
    later(clock)
    stock(receive(10))
    stock(receive(3, sku="TEA-GREEN"))
    mugs_counted = later(clock)
    count = StockCount(
        count_id="cnt-aisles",
        lines=[
            CountedSku(sku="MUG-BLUE", counted=15, counted_at=mugs_counted),
            CountedSku(sku="TEA-GREEN", counted=1, counted_at=tea_counted),
        ],
    )

    [report] = of_type(stock(count), StockCounted)

    assert [(line.sku, line.books, line.difference) for line in report.lines] == [
        ("MUG-BLUE", 15, 0),
        ("TEA-GREEN", 1, 0),
    ]
