"""Stock, as a specification of a physical count (``stock.count``).

Each counted SKU's on hand becomes what the shelf holds, the difference goes to the ledger with
its reason (found, lost, damaged) and is announced as ``stock.adjusted``; the count answers with
``stock.counted`` (the discrepancies) and is applied once. Where fewer units are on the shelf
than open reservations hold, the newest reservations lose theirs, whole orders at a time, and
their orders go down the shortage path (``stock.unavailable``). Orders that wait keep their
claims: a count that leaves them short buys more, one that finds more serves them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeVar

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.stock.bootstrap import bootstrap
from services.stock.counting import SHORT_AFTER_COUNT
from services.stock.model import LedgerEntry, Movement, ReservationStatus
from services.stock.settings import StockSettings
from shared.clock import ManualClock
from shared.contracts import (
    CountedLine,
    CountedSku,
    StockAdjusted,
    StockCount,
    StockCounted,
    StockReleased,
    StockReplenishmentRequested,
    StockUnavailable,
    StockWaitlistDue,
)
from shared.errors import PermanentError
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_placed, replacement_requested
from tests.unit.conftest import QueryCounter
from tests.unit.stock.test_stock_handlers import Stock, cancelled, types

T = TypeVar("T")


@pytest.fixture
def stock(stock: Stock) -> Stock:
    """The shelves of ``conftest.py`` (five blue mugs orders may wait for, one green tea), and
    four red pens."""
    stock.shelve("PEN-RED", 4, "C-03-01")
    return stock


def count(*lines: tuple[str, int] | tuple[str, int, str], count_id: str = "cnt-1") -> StockCount:
    counted = [
        CountedSku(sku=line[0], counted=line[1], reason=line[2] if len(line) > 2 else None)  # type: ignore[misc]
        for line in lines
    ]
    return StockCount(count_id=count_id, lines=counted)


def ledger(stock: Stock, reference: str) -> list[tuple[str, str, int]]:
    query = select(LedgerEntry).where(LedgerEntry.order_id == reference).order_by(LedgerEntry.sku)
    return [(e.sku, e.movement, e.quantity) for e in stock.uow.session.scalars(query)]


def of_type(results: Sequence[object], kind: type[T]) -> list[T]:
    return [r for r in results if isinstance(r, kind)]


# -- reconciling ----------------------------------------------------------------------------


def test_a_count_posts_found_lost_and_damaged_units_and_reports_every_line(stock: Stock) -> None:
    results = stock(count(("MUG-BLUE", 7), ("TEA-GREEN", 0, "damaged"), ("PEN-RED", 1)))

    assert types(results) == ["stock.counted", *["stock.adjusted"] * 3]
    [report] = of_type(results, StockCounted)
    assert report.subject == "count:cnt-1"
    assert report.lines == [
        CountedLine(sku="MUG-BLUE", books=5, counted=7, difference=2, reason="found"),
        CountedLine(sku="TEA-GREEN", books=1, counted=0, difference=-1, reason="damaged"),
        CountedLine(sku="PEN-RED", books=4, counted=1, difference=-3, reason="lost"),
    ]
    assert report.short_orders == []
    assert [(a.sku, a.quantity, a.on_hand, a.reason) for a in of_type(results, StockAdjusted)] == [
        ("MUG-BLUE", 2, 7, "found"),
        ("TEA-GREEN", -1, 0, "damaged"),
        ("PEN-RED", -3, 1, "lost"),
    ]
    assert ledger(stock, "cnt-1") == [
        ("MUG-BLUE", Movement.FOUND, 2),
        ("PEN-RED", Movement.LOST, -3),
        ("TEA-GREEN", Movement.DAMAGED, -1),
    ]
    assert [stock.levels(sku)[0] for sku in ("MUG-BLUE", "TEA-GREEN", "PEN-RED")] == [7, 0, 1]
    assert stock.balanced()


def test_a_line_that_matches_the_books_is_reported_and_adjusts_nothing(stock: Stock) -> None:
    [report] = stock(count(("MUG-BLUE", 5, "damaged")))

    assert isinstance(report, StockCounted)
    assert report.lines == [
        CountedLine(sku="MUG-BLUE", books=5, counted=5, difference=0, reason=None)
    ]
    assert ledger(stock, "cnt-1") == []


def test_more_on_the_shelf_is_found_whatever_reason_the_line_gives(stock: Stock) -> None:
    results = stock(count(("PEN-RED", 6, "damaged")))

    [adjusted] = of_type(results, StockAdjusted)
    assert (adjusted.quantity, adjusted.reason) == (2, "found")


def test_a_count_is_applied_once(stock: Stock) -> None:
    stock(count(("MUG-BLUE", 3)))

    assert stock(count(("MUG-BLUE", 1))) == []  # the same count id, sent again
    assert stock.levels("MUG-BLUE")[0] == 3
    assert types(stock(count(("MUG-BLUE", 1), count_id="cnt-2"))) == [
        "stock.counted",
        "stock.adjusted",
    ]


def test_a_count_moves_the_bin_where_it_was_counted(stock: Stock) -> None:
    stock(StockCount(count_id="c", lines=[CountedSku(sku="PEN-RED", counted=4, location="D-9")]))

    assert stock.item("PEN-RED").location == "D-9"


def test_a_count_of_a_sku_stock_does_not_keep_is_refused(stock: Stock) -> None:
    with pytest.raises(PermanentError, match="sku: LAMP-NEW is not stocked"):
        stock(count(("MUG-BLUE", 1), ("LAMP-NEW", 3)))


def test_a_count_names_each_sku_once() -> None:
    with pytest.raises(ValidationError, match="counted twice: MUG-BLUE"):
        count(("MUG-BLUE", 1), ("PEN-RED", 1), ("MUG-BLUE", 2))


# -- reservations ---------------------------------------------------------------------------


def test_a_count_below_what_is_reserved_sends_the_newest_order_down_the_shortage_path(
    stock: Stock, clock: ManualClock
) -> None:
    stock(order_placed("ord-old", ("MUG-BLUE", 2)))
    clock.advance(timedelta(minutes=1))
    stock(order_placed("ord-new", ("MUG-BLUE", 2), ("TEA-GREEN", 1)))

    results = stock(count(("MUG-BLUE", 3)))

    assert types(results) == [
        "stock.counted",
        "stock.adjusted",
        "stock.released",
        "stock.unavailable",
    ]
    [report] = of_type(results, StockCounted)
    assert report.short_orders == ["ord-new"]
    [released] = of_type(results, StockReleased)
    assert (released.order_id, released.reason) == ("ord-new", SHORT_AFTER_COUNT)
    [short] = of_type(results, StockUnavailable)
    assert short.order_id == "ord-new"
    assert [(s.sku, s.requested, s.available) for s in short.shortages] == [("MUG-BLUE", 2, 1)]
    assert stock.status("ord-new") == ReservationStatus.RELEASED
    assert stock.status("ord-old") == ReservationStatus.RESERVED
    assert stock.levels("MUG-BLUE") == (3, 2, 0, 0)
    assert stock.levels("TEA-GREEN") == (1, 0, 0, 0)  # its other line is free again
    assert stock.balanced()
    assert stock(cancelled("ord-new", "out_of_stock")) == []  # intake's cancel: released already


def test_as_many_orders_lose_their_reservation_as_the_shelf_lacks(
    stock: Stock, clock: ManualClock
) -> None:
    for order_id in ("ord-1", "ord-2", "ord-3"):
        stock(order_placed(order_id, ("PEN-RED", 1)))
        clock.advance(timedelta(minutes=1))
    stock(order_placed("ord-4", ("MUG-BLUE", 1)))  # newest, but holds no pen

    results = stock(count(("PEN-RED", 1, "damaged")))

    assert [u.order_id for u in of_type(results, StockUnavailable)] == ["ord-3", "ord-2"]
    assert stock.status("ord-1") == ReservationStatus.RESERVED
    assert stock.status("ord-4") == ReservationStatus.RESERVED
    assert stock.levels("PEN-RED") == (1, 1, 0, 0)
    assert stock.balanced()


def test_a_count_that_covers_what_is_reserved_leaves_every_order_alone(stock: Stock) -> None:
    stock(order_placed("ord-1", ("PEN-RED", 3)))

    results = stock(count(("PEN-RED", 3)))

    assert types(results) == ["stock.counted", "stock.adjusted"]
    assert stock.status("ord-1") == ReservationStatus.RESERVED
    assert stock.levels("PEN-RED") == (3, 3, 0, 0)


def test_a_replacement_short_after_a_count_fails_as_a_short_replacement_does(
    stock: Stock,
) -> None:
    stock(replacement_requested("ord-9.1"))

    results = stock(count(("MUG-BLUE", 0)))

    [short] = of_type(results, StockUnavailable)
    assert short.order_id == "ord-9.1"  # after-sales refunds the customer instead
    assert stock.balanced()


# -- orders that wait -----------------------------------------------------------------------


def test_waiting_orders_keep_their_claims_and_a_short_count_buys_what_they_lack(
    stock: Stock,
) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 8)))  # waits; 3 bought
    assert stock.levels("MUG-BLUE") == (5, 0, 8, 3)

    results = stock(count(("MUG-BLUE", 2)))

    [bought] = of_type(results, StockReplenishmentRequested)
    assert (bought.sku, bought.quantity) == ("MUG-BLUE", 3)
    assert stock.status("ord-1") == ReservationStatus.BACKORDERED
    assert stock.levels("MUG-BLUE") == (2, 0, 8, 6)
    assert stock.balanced()


def test_units_found_serve_the_orders_that_wait(stock: Stock) -> None:
    stock(order_placed("ord-1", ("MUG-BLUE", 8)))

    results = stock(count(("MUG-BLUE", 9)))

    timers = [r for r in results if isinstance(r, Scheduled)]
    assert [t.message for t in timers] == [StockWaitlistDue(sku="MUG-BLUE")]
    assert types(stock(StockWaitlistDue(sku="MUG-BLUE"))) == ["stock.reserved"]
    assert stock.status("ord-1") == ReservationStatus.RESERVED
    assert stock.balanced()


# -- batches --------------------------------------------------------------------------------


def test_a_batch_locks_a_counts_rows_before_its_handler_runs(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    """The count's row, the reserved orders of its SKUs and its items are locked by the batch:
    the handler reads them all from there, however many orders hold the SKUs."""
    service = bootstrap(clock, StockSettings())
    earlier = Stock(service, session_for(service), clock)
    earlier.shelve("PEN-RED", 40)
    for n in range(20):
        earlier(order_placed(f"ord-{n:02}", ("PEN-RED", 2)))
        clock.advance(timedelta(seconds=1))
    earlier.uow.session.commit()
    session = Session(earlier.uow.session.get_bind(), expire_on_commit=False)
    batch = Stock(service, session, clock)
    message = count(("PEN-RED", 35))
    batch.uow.preload([message])

    counter = count_queries(session)
    results = batch(message)

    assert [u.order_id for u in of_type(results, StockUnavailable)] == [
        "ord-19",
        "ord-18",
        "ord-17",
    ]
    assert counter.selects == 1  # the open reservations, read again under the items' locks
    assert batch.balanced()
    session.close()
