"""The warehouse's handlers, one per message type. Whichever of the two events comes second
sets the (automatic) fulfilment going."""

from __future__ import annotations

from shared.clock import Clock
from shared.contracts import Message, PaymentCaptured, StockReserved
from shared.handlers import Handler

from .model import Fulfillment
from .packing import PackingRules
from .store import WarehouseUnitOfWork


def on_stock_reserved(
    event: StockReserved, uow: WarehouseUnitOfWork, clock: Clock, packing: PackingRules
) -> list[Message]:
    fulfillment = uow.fulfillments.get(event.order_id)
    if fulfillment is None:
        uow.fulfillments.add(Fulfillment.for_pick_list(event.order_id, event.lines, clock.now()))
        return []
    if not fulfillment.take_pick_list(event.lines, clock.now()):
        return []
    return [fulfillment.fulfil(packing, clock.now())]


def on_payment_captured(
    event: PaymentCaptured, uow: WarehouseUnitOfWork, clock: Clock, packing: PackingRules
) -> list[Message]:
    fulfillment = uow.fulfillments.get(event.order_id)
    if fulfillment is None:
        uow.fulfillments.add(Fulfillment.for_payment(event.order_id, clock.now()))
        return []
    if not fulfillment.take_payment(clock.now()):
        return []
    return [fulfillment.fulfil(packing, clock.now())]


HANDLERS: dict[type[Message], Handler] = {
    StockReserved: on_stock_reserved,
    PaymentCaptured: on_payment_captured,
}
