"""Stock's handler table, and the handlers of an order's life: reserve, mark packed, commit,
release, restock; and of after-sales: a replacement reserved, a customer's return back on the shelf.

What stock does for orders that wait for goods (backorders, receipts, purchase orders and its
own timers) is in ``waiting``; a physical count reconciled with the books is in ``counting``.
"""

from __future__ import annotations

from datetime import timedelta

from shared.clock import Clock
from shared.contracts import (
    FulfillmentPacked,
    Message,
    OrderCancelled,
    OrderPlaced,
    PaymentExpired,
    PaymentFailed,
    ReplacementRequested,
    ReturnReceived,
    ShipmentDispatched,
    ShipmentReturned,
    StockBackorderDue,
    StockCommitted,
    StockCount,
    StockReceive,
    StockReleased,
    StockReserved,
    StockRestocked,
    StockUnavailable,
    StockWaitlistDue,
    original_order,
)
from shared.envelope import Envelope
from shared.errors import PermanentError
from shared.service import Handler

from .counting import on_stock_count
from .model import Movement, Reservation, ReservationStatus
from .rules import Allocation, allocate, resellable
from .store import StockUnitOfWork
from .supply import ReturnReceipt
from .waiting import (
    Results,
    backorder,
    on_stock_backorder_due,
    on_stock_receive,
    on_stock_waitlist_due,
    replenish,
    retry_waiting,
)


def on_order_placed(
    event: OrderPlaced, uow: StockUnitOfWork, clock: Clock, backorder_grace: timedelta
) -> Results:
    """All or nothing; short SKUs that all allow backorders make the order wait instead."""
    if uow.reservations.get(event.order_id) is not None:  # seen, or cancelled before it came
        return []
    now = clock.now()
    items = uow.items.lock(line.sku for line in event.lines)
    allocation = allocate(event.lines, items)
    if allocation.complete:
        uow.reservations.add(Reservation.reserve(event.order_id, allocation.reserved, items, now))
        reserved = StockReserved(order_id=event.order_id, lines=allocation.reserved)
        return [reserved, *replenish(uow, items.values(), now)]
    if allocation.may_wait(items):
        return backorder(event.order_id, allocation, uow, items, now, backorder_grace)
    return _unavailable(event.order_id, allocation, uow, clock)


def on_replacement_requested(
    event: ReplacementRequested, uow: StockUnitOfWork, clock: Clock
) -> Results:
    """An after-sales replacement is an order of its own, under the case id: all or nothing,
    and it never waits for goods (after-sales refunds the customer instead). From here on it
    is committed and restocked like any order."""
    if uow.reservations.get(event.order_id) is not None:  # seen already
        return []
    now = clock.now()
    items = uow.items.lock(line.sku for line in event.lines)
    allocation = allocate(event.lines, items)
    if not allocation.complete:
        return _unavailable(event.order_id, allocation, uow, clock)
    uow.reservations.add(Reservation.reserve(event.order_id, allocation.reserved, items, now))
    reserved = StockReserved(
        order_id=event.order_id, lines=allocation.reserved, replaces_order=event.replaces_order
    )
    return [reserved, *replenish(uow, items.values(), now)]


def on_return_received(event: ReturnReceived, uow: StockUnitOfWork, clock: Clock) -> Results:
    """A customer's parcel came back: its resellable goods are on the shelf again, once per
    RMA, with the RMA as the ledger's reference; damaged ones are written off. Orders that
    wait for these SKUs get their turn, as after any restock."""
    if uow.returns.get(event.rma) is not None:
        return []
    back = resellable(event.lines)
    items = uow.items.lock(back)
    unknown = sorted(back.keys() - items.keys())
    if unknown:
        raise PermanentError(f"sku: {', '.join(unknown)} is not stocked; set its level first")
    now, order_id = clock.now(), original_order(event.order_id)
    uow.returns.add(ReturnReceipt(rma=event.rma, order_id=order_id, lines=back, received_at=now))
    if not back:
        return []
    uow.items.record(
        items[sku].move(Movement.RESTOCKED, quantity, event.rma, now)
        for sku, quantity in back.items()
    )
    lines = [items[sku].line(quantity) for sku, quantity in back.items()]
    restocked = StockRestocked(order_id=order_id, lines=lines, reason="returned_by_customer")
    return [restocked, *retry_waiting(items.values(), now)]


def on_fulfillment_packed(
    event: FulfillmentPacked, uow: StockUnitOfWork, envelope: Envelope
) -> Results:
    """The goods are off the shelf, in parcels, yet on hand and reserved until they are
    dispatched: a count must not look for them on the shelf. Packing is all or nothing, so
    the parcels hold the reservation's lines. Dated when the warehouse packed them, so a count
    knows whether they were still on the shelf when it was taken. Nothing is announced."""
    reservation = uow.reservations.get(event.order_id)
    if reservation is not None:
        reservation.pack(envelope.time)
    return []


def on_shipment_dispatched(
    event: ShipmentDispatched, uow: StockUnitOfWork, clock: Clock, envelope: Envelope
) -> Results:
    """The goods left: on hand drops, dated when the carrier took them (a count taken before
    that moment still had them in its parcels)."""
    reservation = uow.reservations.get(event.order_id)
    if reservation is None:
        return []
    items = uow.items.lock(reservation.wanted)
    entries = reservation.commit(items, envelope.time)
    if entries is None:
        return []
    uow.items.record(entries)
    committed = StockCommitted(order_id=event.order_id, lines=reservation.lines)
    return [committed, *replenish(uow, items.values(), clock.now())]


def on_payment_failed(event: PaymentFailed, uow: StockUnitOfWork, clock: Clock) -> Results:
    return _release(event.order_id, "payment_failed", uow, clock)


def on_payment_expired(event: PaymentExpired, uow: StockUnitOfWork, clock: Clock) -> Results:
    return _release(event.order_id, "payment_expired", uow, clock)


def on_order_cancelled(event: OrderCancelled, uow: StockUnitOfWork, clock: Clock) -> Results:
    """Release, or drop a waiting order; an order not seen yet leaves a tombstone, so a late
    order.placed reserves nothing."""
    if uow.reservations.get(event.order_id) is None:
        tombstone = Reservation.of(event.order_id, ReservationStatus.CANCELLED, [], clock.now())
        uow.reservations.add(tombstone)
        return []
    return _release(event.order_id, event.reason, uow, clock)


def on_shipment_returned(event: ShipmentReturned, uow: StockUnitOfWork, clock: Clock) -> Results:
    """The parcels came back to the warehouse: the goods are on the shelf again."""
    reservation = uow.reservations.get(event.order_id)
    if reservation is None:
        return []
    items = uow.items.lock(reservation.wanted)
    dispatch_unseen = reservation.status == ReservationStatus.RESERVED
    entries = reservation.restock(items, clock.now())
    if entries is None:
        return []
    uow.items.record(entries)
    lines = reservation.lines
    announced: Results = []
    if dispatch_unseen:
        announced.append(StockCommitted(order_id=event.order_id, lines=lines))
    announced.append(
        StockRestocked(order_id=event.order_id, lines=lines, reason="returned_to_sender")
    )
    return [*announced, *retry_waiting(items.values(), clock.now())]


def _unavailable(
    order_id: str, allocation: Allocation, uow: StockUnitOfWork, clock: Clock
) -> Results:
    """Short, and may not wait: nothing is reserved, and a repeat of the order finds it seen."""
    uow.reservations.add(Reservation.of(order_id, ReservationStatus.UNAVAILABLE, [], clock.now()))
    return [
        StockUnavailable(
            order_id=order_id, shortages=allocation.shortages, unknown_skus=allocation.unknown
        )
    ]


def _release(order_id: str, reason: str, uow: StockUnitOfWork, clock: Clock) -> Results:
    reservation = uow.reservations.get(order_id)
    if reservation is None:
        return []
    items = uow.items.lock(reservation.wanted)
    waited = reservation.status == ReservationStatus.BACKORDERED
    if not reservation.release(items, clock.now()):
        return []
    if waited:
        uow.backorders.remove(order_id)
    released = StockReleased(order_id=order_id, reason=reason)
    return [released, *retry_waiting(items.values(), clock.now())]


HANDLERS: dict[type[Message], Handler] = {
    OrderPlaced: on_order_placed,
    FulfillmentPacked: on_fulfillment_packed,
    ShipmentDispatched: on_shipment_dispatched,
    PaymentFailed: on_payment_failed,
    PaymentExpired: on_payment_expired,
    OrderCancelled: on_order_cancelled,
    ShipmentReturned: on_shipment_returned,
    ReplacementRequested: on_replacement_requested,
    ReturnReceived: on_return_received,
    StockReceive: on_stock_receive,
    StockCount: on_stock_count,
    StockWaitlistDue: on_stock_waitlist_due,
    StockBackorderDue: on_stock_backorder_due,
}
