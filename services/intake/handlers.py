"""Intake's handler table, and the handlers that judge what the channels submit against the
rules and the catalogue stock announced.

What intake does as the saga goes on (waiting, cancelling, delivering, after-sales cases,
completing) is in ``progress``; this table names every message intake subscribes to.
"""

from __future__ import annotations

from datetime import datetime

from shared.clock import Clock
from shared.contracts import (
    AftersalesCaseClosed,
    FulfillmentCancelled,
    Message,
    OrderCompletionDue,
    OrderReview,
    OrderReviewDue,
    OrderSubmit,
    PaymentExpired,
    PaymentFailed,
    PaymentPending,
    Problem,
    ReplacementRequested,
    ReturnAuthorized,
    ShipmentAddressChanged,
    ShipmentDelivered,
    ShipmentReturned,
    StockBackordered,
    StockBackorderExpired,
    StockItemListed,
    StockUnavailable,
)
from shared.envelope import Envelope, InvalidMessage
from shared.service import Handler
from shared.timers import Scheduled

from .estimate import DeliveryEstimate
from .model import Order
from .progress import (
    on_aftersales_case_closed,
    on_fulfillment_cancelled,
    on_order_completion_due,
    on_payment_expired,
    on_payment_failed,
    on_payment_pending,
    on_replacement_requested,
    on_return_authorized,
    on_shipment_address_changed,
    on_shipment_delivered,
    on_shipment_returned,
    on_stock_backorder_expired,
    on_stock_backordered,
    on_stock_unavailable,
)
from .review import Review
from .reviewing import on_order_review, on_order_review_due
from .store import IntakeUnitOfWork
from .submission import OrderPolicy, SubmissionKey, contact_in, customer_in, unlisted_skus


def on_order_submit(
    command: OrderSubmit,
    uow: IntakeUnitOfWork,
    clock: Clock,
    policy: OrderPolicy,
    estimate: DeliveryEstimate,
    review: Review,
) -> list[Message | Scheduled]:
    """Reject with every problem, or place the order; an order a review rule trips is placed
    held, with its review timer set, and its delivery promised from when its review is due."""
    order = _open_submission(uow, SubmissionKey.of(command), clock.now())
    if order is None:
        return []
    listed = uow.catalogue.listed(line.sku for line in command.lines)
    problems = [*unlisted_skus(command, listed), *policy.problems(command)]
    if problems:
        return [order.reject(problems, command.customer, clock.now())]
    now = clock.now()
    option = command.delivery.option
    reasons = review.rules.reasons(command)
    if not reasons:
        return [order.place(command, estimate.expected(option, now.date()), now)]
    due = now + review.timeout
    expected = estimate.expected(option, due.date())  # a promise kept however long it waits
    placed, held = order.hold(command, expected, reasons, due, now)
    return [placed, held, Scheduled(OrderReviewDue(order_id=order.id), due)]


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
    customer = customer_in(envelope.data)
    contact = contact_in(envelope.data) if customer is None else None
    return [order.reject(problems, customer, clock.now(), contact)]


def on_stock_item_listed(
    event: StockItemListed, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    """Stock keeps this SKU: it can be ordered from now on (listed again: nothing changes)."""
    uow.catalogue.add(event.sku, clock.now())
    return []


def _open_submission(uow: IntakeUnitOfWork, key: SubmissionKey, now: datetime) -> Order | None:
    """The order a submission is about, or None when it repeats an order already placed."""
    order = uow.orders.lock_by_key(key)
    if order is None:
        order = Order.received(key.channel, key.external_id, now)
        uow.orders.add(order)
    return order if order.correctable else None


HANDLERS: dict[type[Message], Handler] = {
    OrderSubmit: on_order_submit,
    StockBackordered: on_stock_backordered,
    PaymentPending: on_payment_pending,
    StockUnavailable: on_stock_unavailable,
    StockBackorderExpired: on_stock_backorder_expired,
    PaymentFailed: on_payment_failed,
    PaymentExpired: on_payment_expired,
    FulfillmentCancelled: on_fulfillment_cancelled,
    ShipmentAddressChanged: on_shipment_address_changed,
    ShipmentDelivered: on_shipment_delivered,
    ShipmentReturned: on_shipment_returned,
    OrderCompletionDue: on_order_completion_due,
    ReturnAuthorized: on_return_authorized,
    ReplacementRequested: on_replacement_requested,
    AftersalesCaseClosed: on_aftersales_case_closed,
    StockItemListed: on_stock_item_listed,
    OrderReview: on_order_review,
    OrderReviewDue: on_order_review_due,
}

INVALID_HANDLERS: dict[type[Message], Handler] = {OrderSubmit: on_invalid_order_submit}
