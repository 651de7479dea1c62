"""Stock, as a specification: reserve all or nothing, commit on dispatch, release on a failed or
expired payment or a cancel, put returned goods back on the shelf; whatever a batch holds, lock
its rows with a few queries; and for every SKU, the ledger and the open claims add up.

Orders that wait for goods (backorders, purchase orders, receipts, reorder points):
``test_stock_backorders.py``; operator actions: ``test_stock_admin.py``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from services.stock.admin import set_level, set_policy
from services.stock.bootstrap import bootstrap
from services.stock.model import Item, ReservationStatus
from services.stock.settings import StockSettings
from services.stock.store import StockUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    FulfillmentPacked,
    Message,
    Money,
    OrderCancelled,
    Parcel,
    ParcelItem,
    PaymentExpired,
    PaymentFailed,
    PaymentMethod,
    ShipmentDispatched,
    ShipmentReturned,
    StockCommitted,
    StockReleased,
    StockReserved,
    StockRestocked,
    StockUnavailable,
    StockWaitlistDue,
)
from shared.envelope import wrap
from shared.service import Service, call
from shared.timers import Scheduled
from tests.factories import order_placed, replacement_requested, return_received
from tests.unit.conftest import QueryCounter

Result = Message | Scheduled


class Stock:
    """Stock's worker in a test: its handler table over one unit of work in memory."""

    def __init__(self, service: Service, session: Session, clock: ManualClock) -> None:
        self.service = service
        self.uow = StockUnitOfWork(session)
        self.clock = clock

    def __call__(self, message: Message) -> list[Result]:
        """Handle ``message`` as if it had been sent now, by the test clock."""
        envelope = wrap(message, source="test", now=self.clock.now())
        return list(call(self.service.handlers[type(message)], message, self.uow, envelope))

    def shelve(self, sku: str, on_hand: int, location: str = "A-01-01", **policy: object) -> Item:
        item = set_level(self.uow, sku, on_hand, self.clock.now(), location, 350).result
        if policy:
            set_policy(self.uow, sku, **policy)  # type: ignore[arg-type]
        return item

    def item(self, sku: str) -> Item:
        item = self.uow.items.get(sku)
        assert item is not None
        return item

    def levels(self, sku: str) -> tuple[int, int, int, int]:
        """(on hand, reserved, claimed by waiting orders, on order)."""
        item = self.item(sku)
        return item.on_hand, item.reserved, item.backordered, item.on_order

    def status(self, order_id: str) -> str | None:
        reservation = self.uow.reservations.get(order_id)
        return reservation.status if reservation else None

    def balanced(self) -> bool:
        """The invariant the audit checks: per SKU, on hand is the sum of its ledger, reserved of
        open reservations, claims of waiting orders, on order of open purchase orders."""
        self.uow.session.flush()
        ledger = self.uow.items.ledger_totals()
        reserved = self.uow.reservations.open_quantities()
        claimed = self.uow.backorders.waiting_quantities()
        on_order = self.uow.purchase_orders.outstanding_quantities()
        return all(
            (item.on_hand, item.reserved, item.backordered, item.on_order)
            == (
                ledger.get(item.sku, 0),
                reserved.get(item.sku, 0),
                claimed.get(item.sku, 0),
                on_order.get(item.sku, 0),
            )
            for item in self.uow.items.all()
        )


@pytest.fixture
def stock(session_for: Callable[[Service], Session], clock: ManualClock) -> Stock:
    service = bootstrap(clock, StockSettings())
    stock = Stock(service, session_for(service), clock)
    stock.shelve("MUG-BLUE", 5, "A-01-02")
    stock.shelve("TEA-GREEN", 1, "B-02-01")
    return stock


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


def packed(order_id: str, *contents: tuple[str, int]) -> FulfillmentPacked:
    items = [ParcelItem(sku=sku, quantity=quantity) for sku, quantity in contents]
    parcel = Parcel(parcel_id=f"{order_id}-p1", weight_grams=900, items=items)
    return FulfillmentPacked(order_id=order_id, parcels=[parcel])


def returned(order_id: str = "ord-1") -> ShipmentReturned:
    return ShipmentReturned(
        order_id=order_id,
        shipment_id="shp-1",
        tracking_number="TRK1",
        returned_at=datetime(2026, 3, 9, tzinfo=UTC),
        attempts=3,
    )


def payment_failed(order_id: str = "ord-1") -> PaymentFailed:
    return PaymentFailed(
        order_id=order_id, payment_id="pay-1", method=PaymentMethod.CARD, reason="declined"
    )


def payment_expired(order_id: str = "ord-1") -> PaymentExpired:
    return PaymentExpired(order_id=order_id, payment_id="pay-1", method=PaymentMethod.BANK_TRANSFER)


def cancelled(order_id: str = "ord-1", reason: str = "customer_cancelled") -> OrderCancelled:
    return OrderCancelled(order_id=order_id, reason=reason)


def types(results: Sequence[Result]) -> list[str]:
    return [f"timer {r.message.type}" if isinstance(r, Scheduled) else r.type for r in results]


# -- reserving ------------------------------------------------------------------------------


def test_reserves_every_line_when_all_are_available(stock: Stock) -> None:
    [event] = stock(order_placed())

    assert isinstance(event, StockReserved)
    assert [(line.sku, line.quantity, line.location) for line in event.lines] == [
        ("MUG-BLUE", 2, "A-01-02")
    ]
    assert stock.levels("MUG-BLUE") == (5, 2, 0, 0)
    assert stock.balanced()


def test_reserves_nothing_when_one_line_is_short(stock: Stock) -> None:
    [event] = stock(order_placed("ord-1", ("MUG-BLUE", 1), ("TEA-GREEN", 3)))

    assert isinstance(event, StockUnavailable)
    assert [(s.sku, s.requested, s.available) for s in event.shortages] == [("TEA-GREEN", 3, 1)]
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)


def test_an_unknown_sku_makes_the_order_unavailable(stock: Stock) -> None:
    [event] = stock(order_placed("ord-1", ("NOPE-1", 1)))

    assert isinstance(event, StockUnavailable)
    assert event.unknown_skus == ["NOPE-1"]


def test_the_same_order_is_reserved_once(stock: Stock) -> None:
    stock(order_placed())

    assert stock(order_placed()) == []
    assert stock.levels("MUG-BLUE") == (5, 2, 0, 0)


# -- committing -----------------------------------------------------------------------------


def test_dispatch_turns_the_reservation_into_a_deduction(stock: Stock) -> None:
    stock(order_placed())

    [event] = stock(dispatched())

    assert isinstance(event, StockCommitted)
    assert stock.levels("MUG-BLUE") == (3, 0, 0, 0)
    assert stock(dispatched()) == []
    assert stock.balanced()


# -- releasing ------------------------------------------------------------------------------


def test_failed_payment_releases_the_reservation(stock: Stock) -> None:
    stock(order_placed())

    [event] = stock(payment_failed())

    assert isinstance(event, StockReleased) and event.reason == "payment_failed"
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)
    assert stock(payment_failed()) == []


def test_expired_payment_releases_the_reservation(stock: Stock) -> None:
    stock(order_placed())

    [event] = stock(payment_expired())

    assert isinstance(event, StockReleased) and event.reason == "payment_expired"
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)
    assert stock(payment_expired()) == []


def test_a_cancelled_order_releases_its_reservation_with_the_cancel_reason(stock: Stock) -> None:
    stock(order_placed())

    [event] = stock(cancelled(reason="customer_cancelled"))

    assert isinstance(event, StockReleased) and event.reason == "customer_cancelled"
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)
    assert stock(cancelled()) == []


def test_a_cancel_after_a_payment_failure_releases_nothing_twice(stock: Stock) -> None:
    stock(order_placed())
    stock(payment_failed())

    assert stock(cancelled(reason="payment_failed")) == []
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)


def test_a_cancel_before_the_order_arrives_leaves_a_tombstone_so_nothing_is_reserved(
    stock: Stock,
) -> None:
    assert stock(cancelled()) == []

    assert stock(order_placed()) == []
    assert stock.status("ord-1") == ReservationStatus.CANCELLED
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)


def test_a_cancel_after_dispatch_changes_nothing(stock: Stock) -> None:
    stock(order_placed())
    stock(dispatched())

    assert stock(cancelled(reason="delivery_failed")) == []
    assert stock.levels("MUG-BLUE") == (3, 0, 0, 0)


def test_released_stock_goes_first_to_orders_that_wait_for_it(stock: Stock) -> None:
    stock.shelve("MUG-BLUE", 5, backorder_allowed=True)
    stock(order_placed("ord-1", ("MUG-BLUE", 5)))
    stock(order_placed("ord-2", ("MUG-BLUE", 2)))  # waits: nothing left

    released = stock(payment_failed("ord-1"))

    assert types(released) == ["stock.released", "timer stock.waitlist_due"]
    [event] = stock(StockWaitlistDue(sku="MUG-BLUE"))
    assert isinstance(event, StockReserved) and event.order_id == "ord-2"
    assert stock.levels("MUG-BLUE")[:3] == (5, 2, 0)
    assert stock.balanced()


# -- returns --------------------------------------------------------------------------------


def test_returned_goods_are_back_on_the_shelf(stock: Stock) -> None:
    stock(order_placed())
    stock(dispatched())

    [event] = stock(returned())

    assert isinstance(event, StockRestocked) and event.reason == "returned_to_sender"
    assert [(line.sku, line.quantity) for line in event.lines] == [("MUG-BLUE", 2)]
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)
    assert stock(returned()) == []
    assert stock.balanced()


def test_a_return_whose_dispatch_was_not_seen_yet_commits_then_restocks(stock: Stock) -> None:
    stock(order_placed())

    assert types(stock(returned())) == ["stock.committed", "stock.restocked"]

    assert stock(dispatched()) == []
    assert stock.levels("MUG-BLUE") == (5, 0, 0, 0)
    assert stock.balanced()


def test_a_return_of_an_order_stock_never_shipped_changes_nothing(stock: Stock) -> None:
    stock(order_placed("ord-1", ("TEA-GREEN", 3)))

    assert stock(returned()) == []
    assert stock(returned("ord-unknown")) == []


# -- batches --------------------------------------------------------------------------------


def test_a_batch_costs_the_same_few_selects_however_many_orders_it_holds(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    """Every kind of message stock handles, in one batch: new orders (reserved, waiting, short),
    packed orders, dispatches, returns, failed payments, cancels, receipts, both timers,
    replacements (reserved, short) and customers' returns (new and seen). Customers' returns
    cost one SELECT more, of their RMAs' rows: six in all."""
    from shared.contracts import InspectedLine, ItemQuantity, StockBackorderDue, StockReceive

    def returned_by_customer(rma: str) -> Message:
        lines = [
            InspectedLine(sku="MUG-BLUE", resellable=1),
            InspectedLine(sku="PEN-RED", damaged=1),
        ]
        return return_received(rma, lines=lines)

    def selects_for(orders: int) -> int:
        service = bootstrap(clock, StockSettings())
        earlier = Stock(service, session_for(service), clock)
        earlier.shelve("MUG-BLUE", 10 * orders, backorder_allowed=True)
        earlier.shelve("TEA-GREEN", 0, backorder_allowed=True)
        earlier.shelve("PEN-RED", orders)
        ids = [f"ord-{n:02}" for n in range(orders)]
        for order_id in ids:
            earlier(order_placed(f"{order_id}-kept", ("MUG-BLUE", 1)))
            earlier(order_placed(f"{order_id}-sent", ("MUG-BLUE", 1)))
            earlier(order_placed(f"{order_id}-packing", ("MUG-BLUE", 1)))
            earlier(order_placed(f"{order_id}-waits", ("TEA-GREEN", 1), ("MUG-BLUE", 1)))
            clock.advance(timedelta(seconds=1))
        for order_id in ids:  # behind every order above: the receipt below is not for them
            earlier(order_placed(f"{order_id}-gives-up", ("TEA-GREEN", 1)))
        earlier(dispatched(f"{ids[0]}-sent"))
        for order_id in ids:
            earlier(returned_by_customer(f"{order_id}-sent.1"))
        earlier.uow.session.commit()
        messages: list[Message] = [StockReceive(receipt_id="r-1", sku="TEA-GREEN", quantity=orders)]
        for n, order_id in enumerate(ids):
            messages += [
                order_placed(f"{order_id}-new", ("MUG-BLUE", 1), ("PEN-RED", 1)),
                order_placed(f"{order_id}-short", ("PEN-RED", orders + 1)),
                order_placed(f"{order_id}-backordered", ("TEA-GREEN", 2)),
                payment_failed(f"{order_id}-kept") if n % 2 else cancelled(f"{order_id}-kept"),
                packed(f"{order_id}-packing", ("MUG-BLUE", 1)),
                dispatched(f"{order_id}-sent"),
                returned(f"{order_id}-sent"),
                StockBackorderDue(order_id=f"{order_id}-gives-up"),
                StockWaitlistDue(sku="MUG-BLUE"),
                replacement_requested(
                    f"{order_id}.1", lines=[ItemQuantity(sku="MUG-BLUE", quantity=1)]
                ),
                replacement_requested(
                    f"{order_id}.2", lines=[ItemQuantity(sku="PEN-RED", quantity=orders + 1)]
                ),
                returned_by_customer(f"{order_id}-sent.1"),  # seen: restocked once
                returned_by_customer(f"{order_id}-sent.2"),
            ]

        session = Session(earlier.uow.session.get_bind(), expire_on_commit=False)
        batch = Stock(service, session, clock)
        counter = count_queries(session)
        batch.uow.preload(messages)
        announced = [r for m in messages for r in batch(m)]
        session.flush()
        selects = counter.selects
        assert batch.balanced()
        packing = [batch.uow.reservations.get(f"{order_id}-packing") for order_id in ids]
        assert all(r is not None and r.in_parcels for r in packing)
        session.commit()
        session.close()

        kinds = types(announced)
        assert kinds.count("stock.reserved") == orders * 3  # new, waited, and replacements
        assert kinds.count("stock.unavailable") == orders * 2
        assert kinds.count("stock.backordered") == orders
        assert kinds.count("stock.released") == orders
        assert kinds.count("stock.restocked") == orders * 2  # to the sender, and by customers
        assert kinds.count("stock.backorder_expired") == orders
        return selects

    assert selects_for(20) == selects_for(2) <= 6
