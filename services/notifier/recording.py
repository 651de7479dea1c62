"""How a handler records what to tell: once per event, rendered as soon as the recipient is known.

Rendering happens in the handler's transaction, so a template error parks the event (and the
message is never half-sent); sending happens after the commit (``delivery``).
"""

from __future__ import annotations

from jinja2 import Environment

from shared.clock import Clock
from shared.contracts import Message, OrderMessage

from .model import Notification, Recipient
from .rendering import FALLBACK_LANGUAGE, render
from .store import NotifierUnitOfWork


def notify(
    event: OrderMessage,
    uow: NotifierUnitOfWork,
    clock: Clock,
    templates: Environment,
    reference: str = "",
) -> list[Message]:
    """Record the event's notification; queue it now, or leave it waiting for order.placed."""
    recipient = uow.recipients.lock(event.order_id, clock.now())
    notification = record(event, uow, clock, reference)
    if notification is not None and recipient.known:
        queue(notification, recipient, templates, clock)
    return []


def record(
    event: OrderMessage, uow: NotifierUnitOfWork, clock: Clock, reference: str = ""
) -> Notification | None:
    """A new waiting notification about ``event``, or None if it was recorded before."""
    if uow.notifications.find(event.order_id, event.type, reference) is not None:
        return None
    notification = Notification.about_event(event, reference, clock.now())
    uow.notifications.add(notification)
    return notification


def queue(
    notification: Notification, recipient: Recipient, templates: Environment, clock: Clock
) -> None:
    """Render it in the recipient's language and locale and leave it pending for the courier."""
    context = {**notification.context, **recipient.context()}
    language = recipient.language or FALLBACK_LANGUAGE
    message = render(templates, notification.about, language, context, recipient.country)
    notification.queue(recipient, message, clock.now())
