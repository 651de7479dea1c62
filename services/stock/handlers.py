"""Stock's handlers, one per message type."""

from __future__ import annotations

from shared.clock import Clock
from shared.contracts import (
    Message,
    OrderPlaced,
    PaymentFailed,
    ShipmentDispatched,
    StockCommitted,
    StockReleased,
    StockReserved,
    StockUnavailable,
)
from shared.handlers import Handler

from .model import Movement, Reservation, ReservationStatus, allocate
from .store import StockUnitOfWork


def on_order_placed(event: OrderPlaced, uow: StockUnitOfWork, clock: Clock) -> list[Message]:
    if uow.reservations.get(event.order_id) is not None:
        return []
    items = uow.items.lock(line.sku for line in event.lines)
    allocation = allocate(event.lines, items)
    if not allocation.complete:
        uow.reservations.add(
            Reservation(
                order_id=event.order_id,
                status=ReservationStatus.UNAVAILABLE,
                lines=[],
                updated_at=clock.now(),
            )
        )
        return [
            StockUnavailable(
                order_id=event.order_id,
                shortages=allocation.shortages,
                unknown_skus=allocation.unknown,
            )
        ]
    for line in allocation.reserved:
        items[line.sku].reserved += line.quantity
    uow.reservations.add(
        Reservation(
            order_id=event.order_id,
            status=ReservationStatus.RESERVED,
            lines=[line.model_dump() for line in allocation.reserved],
            updated_at=clock.now(),
        )
    )
    return [StockReserved(order_id=event.order_id, lines=allocation.reserved)]


def on_shipment_dispatched(
    event: ShipmentDispatched, uow: StockUnitOfWork, clock: Clock
) -> list[Message]:
    reservation = uow.reservations.get(event.order_id)
    if reservation is None or reservation.status != ReservationStatus.RESERVED:
        return []
    lines = reservation.reserved_lines
    items = uow.items.lock(line.sku for line in lines)
    for line in lines:
        item = items[line.sku]
        item.reserved -= line.quantity
        uow.items.move(item, Movement.COMMITTED, -line.quantity, event.order_id, clock.now())
    reservation.status = ReservationStatus.COMMITTED
    reservation.updated_at = clock.now()
    return [StockCommitted(order_id=event.order_id, lines=lines)]


def on_payment_failed(event: PaymentFailed, uow: StockUnitOfWork, clock: Clock) -> list[Message]:
    reservation = uow.reservations.get(event.order_id)
    if reservation is None or reservation.status != ReservationStatus.RESERVED:
        return []
    lines = reservation.reserved_lines
    items = uow.items.lock(line.sku for line in lines)
    for line in lines:
        items[line.sku].reserved -= line.quantity
    reservation.status = ReservationStatus.RELEASED
    reservation.updated_at = clock.now()
    return [StockReleased(order_id=event.order_id, reason="payment_failed")]


HANDLERS: dict[type[Message], Handler] = {
    OrderPlaced: on_order_placed,
    ShipmentDispatched: on_shipment_dispatched,
    PaymentFailed: on_payment_failed,
}
