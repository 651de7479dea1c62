"""Notifier's handlers, one per message type: each records its notification once, and sends
it as soon as the recipient is known."""

from __future__ import annotations

from jinja2 import Environment

from shared.clock import Clock
from shared.contracts import (
    Message,
    OrderCancelled,
    OrderMessage,
    OrderPlaced,
    OrderRejected,
    ShipmentDelivered,
    ShipmentDispatched,
)
from shared.handlers import Handler

from .model import Notification, NotificationStatus, Recipient
from .rendering import FALLBACK_LANGUAGE, render
from .store import NotifierUnitOfWork


def on_order_placed(
    event: OrderPlaced, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    recipient = uow.recipients.lock(event.order_id, clock.now())
    recipient.learn(event.customer, clock.now())
    _record(event, uow, clock)
    pending = uow.notifications.pending(event.order_id)
    return [_send(notification, recipient, templates, clock) for notification in pending]


def on_order_rejected(
    event: OrderRejected, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    """Told to the customer the submission named, unless a correction already placed the order."""
    uow.recipients.lock(event.order_id, clock.now())
    notification = _record(event, uow, clock, reference=f"attempt-{event.attempt}")
    if notification is None:
        return []
    if uow.notifications.find(event.order_id, OrderPlaced.type) is not None:
        reason = "a corrected submission placed the order before this rejection arrived"
        notification.set_aside(NotificationStatus.SUPERSEDED, reason)
        return []
    if event.customer is None:
        reason = "the rejected submission named no valid customer to tell"
        notification.set_aside(NotificationStatus.UNDELIVERABLE, reason)
        return []
    recipient = Recipient.of(event.order_id, event.customer, clock.now())
    return [_send(notification, recipient, templates, clock)]


def on_order_cancelled(
    event: OrderCancelled, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return _notify(event, uow, clock, templates)


def on_shipment_dispatched(
    event: ShipmentDispatched, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return _notify(event, uow, clock, templates, reference=event.shipment_id)


def on_shipment_delivered(
    event: ShipmentDelivered, uow: NotifierUnitOfWork, clock: Clock, templates: Environment
) -> list[Message]:
    return _notify(event, uow, clock, templates, reference=event.shipment_id)


def _notify(
    event: OrderMessage,
    uow: NotifierUnitOfWork,
    clock: Clock,
    templates: Environment,
    reference: str = "",
) -> list[Message]:
    """Record the event's notification; send it now, or leave it pending for order.placed."""
    recipient = uow.recipients.lock(event.order_id, clock.now())
    notification = _record(event, uow, clock, reference)
    if notification is None or not recipient.known:
        return []
    return [_send(notification, recipient, templates, clock)]


def _record(
    event: OrderMessage, uow: NotifierUnitOfWork, clock: Clock, reference: str = ""
) -> Notification | None:
    """A new pending notification about ``event``, or None if it was recorded before."""
    if uow.notifications.find(event.order_id, event.type, reference) is not None:
        return None
    notification = Notification.about_event(event, reference, clock.now())
    uow.notifications.add(notification)
    return notification


def _send(
    notification: Notification, recipient: Recipient, templates: Environment, clock: Clock
) -> Message:
    """Sending, for now, is recording the rendered message; SMTP comes later."""
    context = {**notification.context, "recipient": {"name": recipient.name}}
    message = render(
        templates, notification.about, recipient.language or FALLBACK_LANGUAGE, context
    )
    return notification.mark_sent(recipient, message, clock.now())


HANDLERS: dict[type[Message], Handler] = {
    OrderPlaced: on_order_placed,
    OrderRejected: on_order_rejected,
    OrderCancelled: on_order_cancelled,
    ShipmentDispatched: on_shipment_dispatched,
    ShipmentDelivered: on_shipment_delivered,
}
