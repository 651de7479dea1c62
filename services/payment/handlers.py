"""Payment's handlers, one per message type. Whichever of the two events comes second charges."""

from __future__ import annotations

from shared.clock import Clock
from shared.contracts import Message, OrderPlaced, StockReserved
from shared.handlers import Handler

from .gateway import SimulatedGateway
from .model import Payment
from .store import PaymentUnitOfWork


def on_order_placed(
    event: OrderPlaced, uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: Clock
) -> list[Message]:
    payment = uow.payments.get(event.order_id)
    if payment is None:
        uow.payments.add(Payment.for_order(event, clock.now()))
        return []
    if not payment.take_order(event, clock.now()):
        return []
    return charge(payment, uow, gateway, clock)


def on_stock_reserved(
    event: StockReserved, uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: Clock
) -> list[Message]:
    payment = uow.payments.get(event.order_id)
    if payment is None:
        uow.payments.add(Payment.for_reserved_stock(event.order_id, clock.now()))
        return []
    if not payment.take_stock_reservation(clock.now()):
        return []
    return charge(payment, uow, gateway, clock)


def charge(
    payment: Payment, uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: Clock
) -> list[Message]:
    """Authorise and capture; a ``TransientError`` leaves for the runtime to retry."""
    outcome = gateway.charge(payment.charge_request(), uow.gateway_ledger)
    return [payment.settle(outcome, clock.now())]


HANDLERS: dict[type[Message], Handler] = {
    OrderPlaced: on_order_placed,
    StockReserved: on_stock_reserved,
}
