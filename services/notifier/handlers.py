"""Notifier's handlers, one per customer-visible event: each records its notification once
(keyed by the event's reference) and renders it as soon as the recipient is known. None
announces anything: ``notification.sent`` follows the sending, after the commit."""

from __future__ import annotations

import hashlib

from jinja2 import Environment

from shared.clock import Clock
from shared.contracts import (
    AftersalesRequestRefused,
    FulfillmentCancelRefused,
    Message,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    PaymentPending,
    PaymentRefunded,
    PaymentReminder,
    ReplacementRequested,
    ReturnAuthorized,
    ReturnExpired,
    ReturnReceived,
    ShipmentAddressChanged,
    ShipmentAddressChangeRefused,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentReturned,
    StockBackordered,
)
from shared.envelope import Envelope
from shared.service import Handler

from .model import NotificationStatus, Recipient
from .recording import notify, queue, record
from .store import NotifierUnitOfWork


def on_order_placed(
    event: OrderPlaced, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    """The confirmation; it also names the recipient, so whatever waited for it goes too."""
    recipient = uow.recipients.lock(event.order_id, clock.now())
    recipient.learn_order(event, clock.now())
    return _recipient_named(event, recipient, uow, clock, templates)


def on_order_rejected(
    event: OrderRejected, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    """Told to the customer the submission named (or, when only its e-mail address was valid, to
    that address), unless a correction already placed the order."""
    uow.recipients.lock(event.order_id, clock.now())
    notification = record(event, uow, clock, reference=f"attempt-{event.attempt}")
    if notification is None:
        return []
    recipient = Recipient.of_rejection(event, clock.now())
    if uow.notifications.find(event.order_id, OrderPlaced.type) is not None:
        reason = "a corrected submission placed the order before this rejection arrived"
        notification.set_aside(NotificationStatus.SUPERSEDED, reason)
    elif recipient is None:
        reason = "the rejected submission named no valid e-mail address to write to"
        notification.set_aside(NotificationStatus.UNDELIVERABLE, reason)
    else:
        queue(notification, recipient, templates, clock)
    return []


def on_order_cancelled(
    event: OrderCancelled, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return notify(event, uow, clock, templates)


def on_stock_backordered(
    event: StockBackordered, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return notify(event, uow, clock, templates)


def on_payment_pending(
    event: PaymentPending, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    """Once when the transfer is awaited, and again after each part of it arrives."""
    return notify(event, uow, clock, templates, reference=f"received-{event.received.amount}")


def on_payment_reminder(
    event: PaymentReminder, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return notify(event, uow, clock, templates, reference=f"reminder-{event.number}")


def on_payment_refunded(
    event: PaymentRefunded, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return notify(event, uow, clock, templates, reference=event.refund_id)


def on_fulfillment_cancel_refused(
    event: FulfillmentCancelRefused,
    uow: NotifierUnitOfWork,
    clock: Clock,
    templates: Environment,
    envelope: Envelope | None = None,
) -> list[Message]:
    """Each refusal answers its own request, even when the words are the same."""
    return notify(event, uow, clock, templates, reference=_answer(envelope))


def on_shipment_dispatched(
    event: ShipmentDispatched, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return notify(event, uow, clock, templates, reference=event.shipment_id)


def on_shipment_delivered(
    event: ShipmentDelivered, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return notify(event, uow, clock, templates, reference=event.shipment_id)


def on_shipment_delivery_failed(
    event: ShipmentDeliveryFailed, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    """One per failed attempt: the carrier's time of it tells the attempts apart."""
    reference = f"{event.shipment_id}@{event.failed_at.isoformat()}"
    return notify(event, uow, clock, templates, reference=reference)


def on_shipment_returned(
    event: ShipmentReturned, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return notify(event, uow, clock, templates, reference=event.shipment_id)


def on_shipment_address_changed(
    event: ShipmentAddressChanged,
    uow: NotifierUnitOfWork,
    clock: Clock,
    templates: Environment,
    envelope: Envelope | None = None,
) -> list[Message]:
    """One per change, even back to an earlier address: the announcement's id tells them
    apart; without it, a digest of the address does."""
    if envelope is not None:
        return notify(event, uow, clock, templates, reference=_answer(envelope))
    where = event.model_dump_json(include={"address", "pickup_point_id"})
    reference = "address-" + hashlib.sha256(where.encode()).hexdigest()[:16]
    return notify(event, uow, clock, templates, reference=reference)


def on_shipment_address_change_refused(
    event: ShipmentAddressChangeRefused,
    uow: NotifierUnitOfWork,
    clock: Clock,
    templates: Environment,
    envelope: Envelope | None = None,
) -> list[Message]:
    """Each refusal answers its own request, even when the words are the same."""
    return notify(event, uow, clock, templates, reference=_answer(envelope))


def on_aftersales_request_refused(
    event: AftersalesRequestRefused, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    """Once per request: the request's id tells the customer's requests apart."""
    return notify(event, uow, clock, templates, reference=event.request_id)


def on_return_authorized(
    event: ReturnAuthorized, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return notify(event, uow, clock, templates, reference=event.rma)


def on_return_received(
    event: ReturnReceived, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return notify(event, uow, clock, templates, reference=event.rma)


def on_return_expired(
    event: ReturnExpired, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return notify(event, uow, clock, templates, reference=event.rma)


def on_replacement_requested(
    event: ReplacementRequested, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    """A replacement travels as an order of its own, whose id is the case id: this names its
    recipient, as order.placed does for an order, so its shipments reach the customer; whatever
    of it waited for the recipient goes too. It goes by its original order's number."""
    recipient = uow.recipients.lock(event.order_id, clock.now())
    original = uow.recipients.lock(event.replaces_order, clock.now())
    recipient.learn_replacement(event, original, clock.now())
    return _recipient_named(event, recipient, uow, clock, templates)


def _recipient_named(
    event: OrderPlaced | ReplacementRequested,
    recipient: Recipient,
    uow: NotifierUnitOfWork,
    clock: Clock,
    templates: Environment,
) -> list[Message]:
    """Record an event that named who to tell about its order id, and send what waited for it."""
    record(event, uow, clock)
    for notification in uow.notifications.waiting(event.order_id):
        queue(notification, recipient, templates, clock)
    return []


def _answer(envelope: Envelope | None) -> str:
    """A reference per announcement for answers a customer may get more than once."""
    return f"event-{envelope.id}" if envelope is not None else ""


HANDLERS: dict[type[Message], Handler] = {
    OrderPlaced: on_order_placed,
    OrderRejected: on_order_rejected,
    OrderCancelled: on_order_cancelled,
    StockBackordered: on_stock_backordered,
    PaymentPending: on_payment_pending,
    PaymentReminder: on_payment_reminder,
    PaymentRefunded: on_payment_refunded,
    FulfillmentCancelRefused: on_fulfillment_cancel_refused,
    ShipmentDispatched: on_shipment_dispatched,
    ShipmentDelivered: on_shipment_delivered,
    ShipmentDeliveryFailed: on_shipment_delivery_failed,
    ShipmentReturned: on_shipment_returned,
    ShipmentAddressChanged: on_shipment_address_changed,
    ShipmentAddressChangeRefused: on_shipment_address_change_refused,
    AftersalesRequestRefused: on_aftersales_request_refused,
    ReturnAuthorized: on_return_authorized,
    ReturnReceived: on_return_received,
    ReturnExpired: on_return_expired,
    ReplacementRequested: on_replacement_requested,
}
