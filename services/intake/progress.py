"""Intake's handlers for the saga's events: the order waits, is cancelled, delivered, completed,
or waits for its after-sales cases to close.

Each asks the order to take one step of its state machine (``status``); a step it cannot take
means a duplicate or late event, and the handler announces nothing.
"""

from __future__ import annotations

from datetime import timedelta

from shared.clock import Clock
from shared.contracts import (
    AftersalesCaseClosed,
    CancelReason,
    FulfillmentCancelled,
    Message,
    OrderCancelled,
    OrderCompletionDue,
    PaymentExpired,
    PaymentFailed,
    PaymentPending,
    ReplacementRequested,
    ReturnAuthorized,
    ShipmentAddressChanged,
    ShipmentDelivered,
    ShipmentReturned,
    StockBackordered,
    StockBackorderExpired,
    StockUnavailable,
)
from shared.timers import Scheduled

from .store import IntakeUnitOfWork

# -- waiting states -------------------------------------------------------------------------


def on_stock_backordered(
    event: StockBackordered, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    order = uow.orders.lock(event.order_id)
    if order is not None:
        order.wait_for_stock(clock.now())
    return []


def on_payment_pending(event: PaymentPending, uow: IntakeUnitOfWork, clock: Clock) -> list[Message]:
    """Payment waits for a transfer, which also tells that a backorder, if any, is over."""
    order = uow.orders.lock(event.order_id)
    if order is not None:
        order.wait_for_payment(clock.now())
    return []


# -- cancellations: each announces order.cancelled once, with the first reason -----------------


def on_stock_unavailable(
    event: StockUnavailable, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    return _cancel(event.order_id, CancelReason.OUT_OF_STOCK, uow, clock)


def on_stock_backorder_expired(
    event: StockBackorderExpired, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    return _cancel(event.order_id, CancelReason.BACKORDER_EXPIRED, uow, clock)


def on_payment_failed(event: PaymentFailed, uow: IntakeUnitOfWork, clock: Clock) -> list[Message]:
    return _cancel(event.order_id, CancelReason.PAYMENT_FAILED, uow, clock, detail=event.reason)


def on_payment_expired(event: PaymentExpired, uow: IntakeUnitOfWork, clock: Clock) -> list[Message]:
    return _cancel(event.order_id, CancelReason.PAYMENT_EXPIRED, uow, clock)


def on_fulfillment_cancelled(
    event: FulfillmentCancelled, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    """The warehouse stopped the order the customer cancelled; the detail is their reason."""
    return _cancel(event.order_id, CancelReason.CUSTOMER_CANCELLED, uow, clock, detail=event.reason)


def on_shipment_returned(
    event: ShipmentReturned, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    """Dispatched but never delivered: the order ends cancelled, and is refunded and restocked."""
    detail = f"returned to sender after {event.attempts} delivery attempts"
    return _cancel(event.order_id, CancelReason.DELIVERY_FAILED, uow, clock, detail=detail)


def _cancel(
    order_id: str, reason: CancelReason, uow: IntakeUnitOfWork, clock: Clock, detail: str = ""
) -> list[Message]:
    order = uow.orders.lock(order_id)
    if order is None or not order.cancel(reason, clock.now()):
        return []
    return [OrderCancelled(order_id=order_id, reason=reason, detail=detail, channel=order.channel)]


# -- the address, delivery and completion ---------------------------------------------------


def on_shipment_address_changed(
    event: ShipmentAddressChanged, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    order = uow.orders.lock(event.order_id)
    if order is not None:
        order.change_address(event.address, event.pickup_point_id, clock.now())
    return []


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
    """Completed (or returned), or, while an after-sales case is open, noted as due."""
    order = uow.orders.lock(timer.order_id)
    return [] if order is None else [*order.complete(clock.now())]


# -- after-sales cases: each keeps the delivered order open until it closes -------------------


def on_return_authorized(
    event: ReturnAuthorized, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    """A return or an exchange: the RMA number is the case id."""
    return _open_case(event.order_id, event.rma, uow, clock)


def on_replacement_requested(
    event: ReplacementRequested, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    """A resend opens its case; an exchange's replacement belongs to the case its RMA opened.
    The event's order id is the case id; the order is the one it replaces."""
    return _open_case(event.replaces_order, event.order_id, uow, clock)


def on_aftersales_case_closed(
    event: AftersalesCaseClosed, uow: IntakeUnitOfWork, clock: Clock
) -> list[Message]:
    order = uow.orders.lock(event.order_id)
    if order is None:
        return []
    return [*order.close_case(event.case_id, event.fully_returned, clock.now())]


def _open_case(order_id: str, case_id: str, uow: IntakeUnitOfWork, clock: Clock) -> list[Message]:
    order = uow.orders.lock(order_id)
    if order is not None:
        order.open_case(case_id, clock.now())
    return []
