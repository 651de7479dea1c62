"""Reporting's handlers: each event sets what it says about its order, at the time it was
announced (its envelope's), and announces nothing. The table at the end is the subscription.

An order is paid when its money is taken: ``payment.captured``, which for cash on delivery
comes at the door (``payment.deferred`` only lets the warehouse go ahead, so it is not heard)."""

from __future__ import annotations

from collections.abc import Callable

from shared.contracts import (
    FulfillmentPacked,
    Message,
    OrderApproved,
    OrderCancelled,
    OrderCompleted,
    OrderHeld,
    OrderPlaced,
    OrderRejected,
    PaymentCaptured,
    PaymentExpired,
    PaymentRefunded,
    ReplacementRequested,
    ReturnAuthorized,
    ReturnReceived,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentReturned,
    StockBackordered,
    StockReserved,
)
from shared.contracts.base import OrderMessage
from shared.envelope import Envelope

from .store import ReportingUnitOfWork

Handler = Callable[..., list[Message]]


def on_order_placed(
    event: OrderPlaced, uow: ReportingUnitOfWork, envelope: Envelope
) -> list[Message]:
    uow.orders.placed(event, envelope.time)
    return []


def on_replacement_requested(
    event: ReplacementRequested, uow: ReportingUnitOfWork, envelope: Envelope
) -> list[Message]:
    """A replacement is an order of its own (the case's id), sent free of charge."""
    uow.orders.replaces(event.order_id, event.replaces_order)
    return []


def on_order_rejected(
    event: OrderRejected, uow: ReportingUnitOfWork, envelope: Envelope
) -> list[Message]:
    uow.rejections.add(
        order_id=event.order_id,
        attempt=event.attempt,
        channel=event.channel,
        problems=len(event.problems),
        rejected_at=envelope.time,
    )
    return []


def on_shipment_dispatched(
    event: ShipmentDispatched, uow: ReportingUnitOfWork, envelope: Envelope
) -> list[Message]:
    uow.orders.dispatched(event.order_id, event.expected_delivery, envelope.time)
    return []


def on_shipment_delivered(
    event: ShipmentDelivered, uow: ReportingUnitOfWork, envelope: Envelope
) -> list[Message]:
    """Delivered when the carrier says it was, not when the scan reached us."""
    uow.orders.reached(event.order_id, "delivered_at", event.delivered_at)
    return []


def on_order_cancelled(
    event: OrderCancelled, uow: ReportingUnitOfWork, envelope: Envelope
) -> list[Message]:
    uow.orders.cancelled(event.order_id, event.reason, envelope.time)
    return []


def on_payment_refunded(
    event: PaymentRefunded, uow: ReportingUnitOfWork, envelope: Envelope
) -> list[Message]:
    uow.refunds.add(
        refund_id=event.refund_id,
        order_id=event.order_id,
        amount=event.amount.amount,
        currency=event.amount.currency,
        reason=event.reason,
        refunded_at=envelope.time,
    )
    return []


def on_return_authorized(
    event: ReturnAuthorized, uow: ReportingUnitOfWork, envelope: Envelope
) -> list[Message]:
    uow.returns.authorized(event, envelope.time)
    return []


def on_return_received(
    event: ReturnReceived, uow: ReportingUnitOfWork, envelope: Envelope
) -> list[Message]:
    uow.returns.received(event, envelope.time)
    return []


def _step(step: str) -> Handler:
    """A handler that records only that the event's order reached ``step``."""

    def on_step(event: OrderMessage, uow: ReportingUnitOfWork, envelope: Envelope) -> list[Message]:
        uow.orders.reached(event.order_id, step, envelope.time)
        return []

    on_step.__name__ = f"on_{step.removesuffix('_at')}"
    return on_step


HANDLERS: dict[type[Message], Handler] = {
    OrderPlaced: on_order_placed,
    ReplacementRequested: on_replacement_requested,
    OrderRejected: on_order_rejected,
    OrderHeld: _step("held_at"),
    OrderApproved: _step("approved_at"),
    StockBackordered: _step("backordered_at"),
    StockReserved: _step("reserved_at"),
    PaymentCaptured: _step("paid_at"),
    PaymentExpired: _step("payment_expired_at"),
    FulfillmentPacked: _step("packed_at"),
    ShipmentDispatched: on_shipment_dispatched,
    ShipmentDelivered: on_shipment_delivered,
    ShipmentDeliveryFailed: _step("delivery_failed_at"),
    ShipmentReturned: _step("returned_at"),
    OrderCompleted: _step("completed_at"),
    OrderCancelled: on_order_cancelled,
    PaymentRefunded: on_payment_refunded,
    ReturnAuthorized: on_return_authorized,
    ReturnReceived: on_return_received,
}
