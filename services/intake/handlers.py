"""Intake's handlers, one per message type."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.clock import Clock
from shared.contracts import (
    Message,
    OrderCancelled,
    OrderCompleted,
    OrderCompletionDue,
    OrderSubmit,
    PaymentFailed,
    Problem,
    ShipmentDelivered,
    StockUnavailable,
)
from shared.envelope import Envelope, InvalidMessage
from shared.handlers import Handler
from shared.timers import Scheduled

from .model import Order
from .store import IntakeUnitOfWork
from .submission import OrderPolicy, SubmissionKey, customer_in


def on_order_submit(
    command: OrderSubmit, uow: IntakeUnitOfWork, clock: Clock, policy: OrderPolicy
) -> list[Message]:
    order = _open_submission(uow, SubmissionKey.of(command), clock.now())
    if order is None:
        return []
    problems = policy.problems(command)
    if problems:
        return [order.reject(problems, command.customer, clock.now())]
    return [order.place(command, clock.now())]


def on_invalid_order_submit(
    envelope: Envelope, problem: InvalidMessage, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    """A submission that fails its schema is rejected with every schema problem."""
    key = SubmissionKey.of_invalid(envelope.data, envelope.id)
    order = _open_submission(uow, key, clock.now())
    if order is None:
        return []
    problems = [Problem(field=field, message=message) for field, message in problem.problems]
    problems = problems or [Problem(field="(message)", message=problem.reason)]
    return [order.reject(problems, customer_in(envelope.data), clock.now())]


def _open_submission(uow: IntakeUnitOfWork, key: SubmissionKey, now: datetime) -> Order | None:
    """The order a submission is about, or None when it repeats an order already placed."""
    order = uow.orders.lock_by_key(key)
    if order is None:
        order = Order.received(key.channel, key.external_id, now)
        uow.orders.add(order)
    return order if order.correctable else None


def on_stock_unavailable(
    event: StockUnavailable, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    return _cancel(event.order_id, "out_of_stock", uow, clock)


def on_payment_failed(event: PaymentFailed, uow: IntakeUnitOfWork, clock: Clock) -> list[Message]:
    return _cancel(event.order_id, "payment_failed", uow, clock, detail=event.reason)


def _cancel(
    order_id: str, reason: str, uow: IntakeUnitOfWork, clock: Clock, detail: str = ""
) -> list[Message]:
    order = uow.orders.lock(order_id)
    if order is None or not order.cancel(reason, clock.now()):
        return []
    return [OrderCancelled(order_id=order_id, reason=reason, detail=detail)]


def on_shipment_delivered(
    event: ShipmentDelivered, uow: IntakeUnitOfWork, clock: Clock, completion_window: timedelta
) -> list[Scheduled]:
    order = uow.orders.lock(event.order_id)
    if order is None or not order.deliver(event.delivered_at, clock.now()):
        return []
    due = clock.now() + completion_window
    return [Scheduled(OrderCompletionDue(order_id=event.order_id), due)]


def on_order_completion_due(
    timer: OrderCompletionDue, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    order = uow.orders.lock(timer.order_id)
    if order is None or not order.complete(clock.now()):
        return []
    return [OrderCompleted(order_id=timer.order_id)]


HANDLERS: dict[type[Message], Handler] = {
    OrderSubmit: on_order_submit,
    StockUnavailable: on_stock_unavailable,
    PaymentFailed: on_payment_failed,
    ShipmentDelivered: on_shipment_delivered,
    OrderCompletionDue: on_order_completion_due,
}

INVALID_HANDLERS: dict[type[Message], Handler] = {OrderSubmit: on_invalid_order_submit}
