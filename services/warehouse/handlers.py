"""The warehouse's handlers, one per message type. Whichever of the pick list and the payment
comes second sets the (automatic) fulfilment going; a cancel stops it if it is not packed yet.
An after-sales replacement's pick list needs no payment: it sets the fulfilment going itself."""

from __future__ import annotations

from datetime import timedelta

from shared.clock import Clock
from shared.contracts import (
    FulfillmentCancelled,
    FulfillmentPackingDue,
    Message,
    OrderCancel,
    OrderCancelled,
    PaymentCaptured,
    PaymentDeferred,
    StockReserved,
)
from shared.service import Handler
from shared.timers import Scheduled

from .model import Fulfillment
from .packing import PackingRules
from .status import FulfillmentStatus
from .store import WarehouseUnitOfWork

Result = list[Message | Scheduled]


def on_stock_reserved(
    event: StockReserved,
    uow: WarehouseUnitOfWork,
    clock: Clock,
    packing: PackingRules,
    packing_time: timedelta = timedelta(0),
) -> Result:
    """The pick list; a replacement's (``replaces_order`` set) is never charged for, so it is
    as good as paid for and starts the fulfilment on its own."""
    fulfillment = uow.fulfillments.get(event.order_id)
    if fulfillment is None and event.replaces_order is None:
        uow.fulfillments.add(Fulfillment.for_pick_list(event.order_id, event.lines, clock.now()))
        return []
    if fulfillment is None:
        fulfillment = Fulfillment.for_replacement(event.order_id, event.lines, clock.now())
        uow.fulfillments.add(fulfillment)
    elif not fulfillment.take_pick_list(event.lines, clock.now()):
        return []
    return _start(fulfillment, clock, packing, packing_time)


def on_payment_captured(
    event: PaymentCaptured,
    uow: WarehouseUnitOfWork,
    clock: Clock,
    packing: PackingRules,
    packing_time: timedelta = timedelta(0),
) -> Result:
    return _paid_for(event.order_id, uow, clock, packing, packing_time)


def on_payment_deferred(
    event: PaymentDeferred,
    uow: WarehouseUnitOfWork,
    clock: Clock,
    packing: PackingRules,
    packing_time: timedelta = timedelta(0),
) -> Result:
    """Cash on delivery: the carrier collects, so the warehouse goes ahead as if paid."""
    return _paid_for(event.order_id, uow, clock, packing, packing_time)


def on_fulfillment_packing_due(
    timer: FulfillmentPackingDue, uow: WarehouseUnitOfWork, clock: Clock, packing: PackingRules
) -> Result:
    """Picking and packing took their time; a cancel that came meanwhile stopped them."""
    fulfillment = uow.fulfillments.get(timer.order_id)
    if fulfillment is None or fulfillment.status != FulfillmentStatus.READY:
        return []
    return [fulfillment.fulfil(packing, clock.now())]


def on_order_cancel(command: OrderCancel, uow: WarehouseUnitOfWork, clock: Clock) -> list[Message]:
    """The customer's cancel: the warehouse decides, as packing hands the order to the carrier."""
    fulfillment = uow.fulfillments.get(command.order_id)
    if fulfillment is None:
        uow.fulfillments.add(Fulfillment.tombstone(command.order_id, command.reason, clock.now()))
        return [FulfillmentCancelled(order_id=command.order_id, reason=command.reason)]
    return fulfillment.cancel(command.reason, clock.now())


def on_order_cancelled(
    event: OrderCancelled, uow: WarehouseUnitOfWork, clock: Clock
) -> list[Message]:
    """The order ended for any reason: an open fulfilment is closed unpacked, without a word;
    an order not seen yet leaves a tombstone, so a late pick list or payment packs nothing."""
    fulfillment = uow.fulfillments.get(event.order_id)
    if fulfillment is None:
        uow.fulfillments.add(Fulfillment.tombstone(event.order_id, event.reason, clock.now()))
    else:
        fulfillment.close(event.reason, clock.now())
    return []


def _paid_for(
    order_id: str,
    uow: WarehouseUnitOfWork,
    clock: Clock,
    packing: PackingRules,
    packing_time: timedelta = timedelta(0),
) -> Result:
    fulfillment = uow.fulfillments.get(order_id)
    if fulfillment is None:
        uow.fulfillments.add(Fulfillment.for_payment(order_id, clock.now()))
        return []
    if not fulfillment.take_payment(clock.now()):
        return []
    return _start(fulfillment, clock, packing, packing_time)


def _start(
    fulfillment: Fulfillment, clock: Clock, packing: PackingRules, packing_time: timedelta
) -> Result:
    """A ready order is packed at once, or when the packing time is up (a timer)."""
    if packing_time:
        return [
            Scheduled(
                FulfillmentPackingDue(order_id=fulfillment.order_id), clock.now() + packing_time
            )
        ]
    return [fulfillment.fulfil(packing, clock.now())]


HANDLERS: dict[type[Message], Handler] = {
    StockReserved: on_stock_reserved,
    PaymentCaptured: on_payment_captured,
    PaymentDeferred: on_payment_deferred,
    OrderCancel: on_order_cancel,
    OrderCancelled: on_order_cancelled,
    FulfillmentPackingDue: on_fulfillment_packing_due,
}
