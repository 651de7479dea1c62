"""Payment's handlers, one per message type.

Whichever of ``order.placed`` and ``stock.reserved`` comes second starts the payment; for an
order held for review, whichever of them and ``order.approved`` comes last (stock reserved for an
after-sales replacement is shipped free of charge: payment ignores it). Money the bank reports
before that is held until it starts. The rest ask the payment what to do and carry
out its refunds through the gateway, after-sales' refunds of a case included. The model decides;
handlers only fetch, call the gateway and pass on what is to be announced or scheduled.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.clock import Clock
from shared.contracts import (
    Message,
    OrderApproved,
    OrderCancelled,
    OrderPlaced,
    PaymentDeadlineDue,
    PaymentHoldDue,
    PaymentNotification,
    PaymentReminderDue,
    RefundRequested,
    ShipmentDelivered,
    ShipmentReturned,
    StockReserved,
)
from shared.service import Handler
from shared.timers import Scheduled

from .gateway import SimulatedGateway
from .model import Payment, PaymentTerms, RefundNotPossible, Step
from .money import Reason, Refund, is_replacement
from .receipts import Receipt
from .store import PaymentUnitOfWork

Announced = list[Message | Scheduled]


def on_order_placed(
    event: OrderPlaced,
    uow: PaymentUnitOfWork,
    gateway: SimulatedGateway,
    clock: Clock,
    terms: PaymentTerms,
) -> Announced:
    payment = uow.payments.get(event.order_id)
    if payment is None:
        uow.payments.add(Payment.for_order(event, clock.now()))
        return []
    announced = carry_out(payment.take_order(event, clock.now()), uow, gateway)
    if payment.charge_due:
        announced += start(payment, uow, gateway, clock, terms)
    return announced


def on_stock_reserved(
    event: StockReserved,
    uow: PaymentUnitOfWork,
    gateway: SimulatedGateway,
    clock: Clock,
    terms: PaymentTerms,
) -> Announced:
    """A replacement's reservation (``replaces_order`` set) is never charged: no payment."""
    if is_replacement(event):
        return []
    payment = uow.payments.get(event.order_id)
    if payment is None:
        uow.payments.add(Payment.for_reserved_stock(event.order_id, clock.now()))
        return []
    if not payment.take_stock_reservation(clock.now()) or not payment.charge_due:
        return []
    return start(payment, uow, gateway, clock, terms)


def on_order_approved(
    event: OrderApproved,
    uow: PaymentUnitOfWork,
    gateway: SimulatedGateway,
    clock: Clock,
    terms: PaymentTerms,
) -> Announced:
    """A held order was approved: the payment starts if its order and stock are known, else it
    notes the approval (opening the payment if this came first) and starts when they are."""
    payment = uow.payments.get(event.order_id)
    if payment is None:
        uow.payments.add(Payment.for_approval(event.order_id, clock.now()))
        return []
    if not payment.approve(clock.now()):
        return []
    return start(payment, uow, gateway, clock, terms)


def start(
    payment: Payment,
    uow: PaymentUnitOfWork,
    gateway: SimulatedGateway,
    clock: Clock,
    terms: PaymentTerms,
) -> Announced:
    """Charge a card or e-wallet (a ``TransientError`` is the runtime's to retry), wait for a
    transfer or escrow, or defer cash on delivery.

    Money the bank reported before the payment started was held: a transfer or escrow counts it,
    a card, e-wallet or cash on delivery gives it back first."""
    if payment.charged_at_once:
        announced = carry_out(payment.give_back_held(), uow, gateway)
        outcome = gateway.charge(payment.charge_request(), uow.gateway_ledger)
        return [*announced, payment.settle(outcome, clock.now())]
    if payment.collected_on_delivery:
        return carry_out([*payment.give_back_held(), *payment.defer(clock.now())], uow, gateway)
    return carry_out(payment.await_funds(clock.now(), terms), uow, gateway)


def on_payment_notification(
    command: PaymentNotification,
    uow: PaymentUnitOfWork,
    gateway: SimulatedGateway,
    clock: Clock,
    terms: PaymentTerms,
) -> Announced:
    """Money arrived by bank or escrow; a notification id already received changes nothing.
    Money for an order payment has not heard of opens a payment that holds it."""
    payment = uow.payments.get(command.order_id)
    if uow.receipts.get(command.notification_id) is not None:
        return []
    if payment is None:
        payment = Payment.holding_money(command.order_id, clock.now())
        uow.payments.add(payment)
    steps = payment.receive(command, clock.now(), hold=terms.window)
    uow.receipts.add(Receipt.of(command, steps, clock.now()))
    return carry_out(steps, uow, gateway)


def on_payment_reminder_due(
    timer: PaymentReminderDue, uow: PaymentUnitOfWork, gateway: SimulatedGateway
) -> Announced:
    payment = uow.payments.get(timer.order_id)
    return [] if payment is None else carry_out(payment.remind(timer.number), uow, gateway)


def on_payment_deadline_due(
    timer: PaymentDeadlineDue, uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: Clock
) -> Announced:
    payment = uow.payments.get(timer.order_id)
    return [] if payment is None else carry_out(payment.expire(clock.now()), uow, gateway)


def on_payment_hold_due(
    timer: PaymentHoldDue, uow: PaymentUnitOfWork, gateway: SimulatedGateway
) -> Announced:
    payment = uow.payments.get(timer.order_id)
    return (
        [] if payment is None else carry_out(payment.give_back_unclaimed(timer.since), uow, gateway)
    )


def on_shipment_delivered(
    event: ShipmentDelivered, uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: Clock
) -> Announced:
    """Cash on delivery is collected; any other payment was settled before dispatch."""
    payment = uow.payments.get(event.order_id)
    if payment is None:
        return []
    return carry_out(payment.collect_on_delivery(clock.now()), uow, gateway)


def on_shipment_returned(
    event: ShipmentReturned, uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: Clock
) -> Announced:
    """Never delivered: cash on delivery is voided, money taken goes back in full."""
    payment = uow.payments.get(event.order_id)
    if payment is None:
        return []
    return carry_out(payment.close(Reason.RETURNED_TO_SENDER, clock.now()), uow, gateway)


def on_order_cancelled(
    event: OrderCancelled, uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: Clock
) -> Announced:
    """Whatever the reason: refund what is kept, void what was never taken, or leave a
    tombstone so a late ``order.placed`` or ``stock.reserved`` charges nothing."""
    payment = uow.payments.get(event.order_id)
    if payment is None:
        uow.payments.add(Payment.tombstone(event.order_id, clock.now()))
        return []
    return carry_out(payment.close(Reason.CANCELLED, clock.now()), uow, gateway)


def on_refund_requested(
    event: RefundRequested, uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: Clock
) -> Announced:
    """After-sales gives money back for a case (a return, a replacement refunded instead)."""
    payment = uow.payments.get(event.order_id)
    if payment is None:
        raise RefundNotPossible(
            f"order {event.order_id}: case {event.case_id} asks for a refund "
            "but payment knows no such order"
        )
    return carry_out(payment.refund_case(event, clock.now()), uow, gateway)


def carry_out(
    steps: Sequence[Step], uow: PaymentUnitOfWork, gateway: SimulatedGateway
) -> Announced:
    """Give back the money the payment decided to, then announce it with the rest."""
    announced: Announced = []
    for step in steps:
        if isinstance(step, Refund):
            gateway.refund(step.request, uow.gateway_ledger)
            announced.append(step.announcement)
        else:
            announced.append(step)
    return announced


HANDLERS: dict[type[Message], Handler] = {
    OrderPlaced: on_order_placed,
    StockReserved: on_stock_reserved,
    OrderApproved: on_order_approved,
    PaymentNotification: on_payment_notification,
    PaymentReminderDue: on_payment_reminder_due,
    PaymentDeadlineDue: on_payment_deadline_due,
    PaymentHoldDue: on_payment_hold_due,
    ShipmentDelivered: on_shipment_delivered,
    ShipmentReturned: on_shipment_returned,
    OrderCancelled: on_order_cancelled,
    RefundRequested: on_refund_requested,
}
