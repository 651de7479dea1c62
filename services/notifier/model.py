"""Notifier's domain: who to tell about an order, and what they were told.

One notification per event. A handler never sees the event's envelope id, so a notification is
keyed by what the event is about instead: (order id, message type, reference). Events the saga
announces once per order (placed, cancelled) have an empty reference; those that may happen more
than once carry what tells them apart (see ``handlers``): a shipment id, a refund id, a reminder's
number, the attempt of a rejected submission, an RMA, the id of a refused after-sales request.
The inbox already skips a redelivered envelope; this key also absorbs the same event announced
again under a new envelope id. A replacement's notifications are kept under its own order id,
the case id ``<order>.<n>``.

A notification's life::

    waiting ──> pending ──> sending ──> sent
    (no recipient   │   ^       │  └──> failed   (the mail server refused the recipient for good)
     known yet)     │   └───────┘                (given back: the mail server was unavailable)
    undeliverable, superseded                    (set aside by a handler, with the reason)

Handlers render it and leave it ``pending`` in their transaction; after the commit, the courier
(``delivery``) claims it (``sending``, by whom and until when), sends it, and records when the
mail server took it (``sent_at``) in a commit of its own before it sends the next. A ``sending``
notification with ``sent_at`` is sent and never sent again; it becomes ``sent`` when its
``notification.sent`` is announced, with the others of the pass, in one transaction.

The recipient row is created by whichever event of an order arrives first and locked by every
handler, so one order's notifications are decided one at a time: a notification left waiting
because order.placed had not arrived yet cannot miss the order.placed that addresses it. A
replacement's recipient is named by its replacement.requested instead.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import (
    Customer,
    NotificationSent,
    OrderMessage,
    OrderPlaced,
    OrderRejected,
    ReplacementRequested,
    original_order,
)
from shared.database import UtcDateTime
from shared.outbox import TRACEPARENT_LENGTH, TRACESTATE_LENGTH

from .rendering import RenderedMessage

LIFE_ORDER = (
    "order.placed",
    "replacement.requested",
    "order.rejected",
    "stock.backordered",
    "payment.pending",
    "payment.reminder",
    "shipment.address_changed",
    "shipment.address_change_refused",
    "fulfillment.cancel_refused",
    "shipment.dispatched",
    "shipment.delivery_failed",
    "shipment.delivered",
    "shipment.returned",
    "aftersales.request_refused",
    "return.authorized",
    "return.expired",
    "return.received",
    "order.cancelled",
    "payment.refunded",
)
"""The order of an order's life: what was waiting for the recipient is sent in this order. A
replacement's life (its id is the case id) starts with replacement.requested, as an order's does
with order.placed."""


def life_order(about: str) -> int:
    return LIFE_ORDER.index(about) if about in LIFE_ORDER else len(LIFE_ORDER)


PRIVATE_FIELDS = {"customer", "payment"}


class Base(DeclarativeBase):
    pass


class NotificationStatus(StrEnum):
    WAITING = "waiting"
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"
    SUPERSEDED = "superseded"


def new_notification_id() -> str:
    return f"ntf_{uuid.uuid4().hex[:24]}"


class Recipient(Base):
    """Who to tell about an order, and how they know it; unknown until order.placed (for a
    replacement: replacement.requested) names the customer.

    Besides the address: the channel's order number, which the customer knows the order by (a
    replacement goes by its original order's); the delivery country, which with the language
    picks the locale; the delivery date the confirmation promised, so a later estimate can be
    told as a change; and what a replacement is for (an exchange, or a resend of missing items).
    """

    __tablename__ = "recipients"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    order_number: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    promised_delivery: Mapped[date | None] = mapped_column(Date)
    replacement: Mapped[str | None] = mapped_column(String(16))

    @classmethod
    def of_rejection(cls, event: OrderRejected, now: datetime) -> Recipient | None:
        """Who to tell about a rejected submission: its customer, or else, when only the
        customer's e-mail address was valid, that address (greeted without a name)."""
        recipient = cls(order_id=event.order_id, order_number=event.external_id)
        if event.customer is not None:
            recipient.learn(event.customer, now)
        elif event.contact is not None:
            recipient.name, recipient.updated_at = None, now
            recipient.email, recipient.language = event.contact.email, event.contact.language
        return recipient if recipient.known else None

    @property
    def known(self) -> bool:
        return self.email is not None

    def learn(self, customer: Customer, now: datetime) -> None:
        self.name, self.email, self.language = customer.name, customer.email, customer.language
        self.updated_at = now

    def learn_order(self, order: OrderPlaced, now: datetime) -> None:
        self.learn(order.customer, now)
        self.order_number, self.country = order.external_id, order.delivery.address.country
        self.promised_delivery = order.expected_delivery

    def learn_replacement(
        self, replacement: ReplacementRequested, original: Recipient, now: datetime
    ) -> None:
        """A replacement goes by its original order's number, once that order is known."""
        self.learn(replacement.customer, now)
        self.order_number = original.order_number
        self.country, self.replacement = replacement.delivery.address.country, replacement.request

    def context(self) -> dict[str, Any]:
        """What the templates know of the recipient and of how the customer knows the order."""
        return {
            "recipient": {"name": self.name},
            "order_number": self.order_number or original_order(self.order_id),
            "promised_delivery": self.promised_delivery.isoformat()
            if self.promised_delivery
            else None,
            "replacement": self.replacement,
        }


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("order_id", "about", "reference", name="notifications_once_per_event"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    about: Mapped[str] = mapped_column(String(100))
    reference: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), index=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The event's fields for its template, whatever the event: free-form, so plain JSON."""
    reason: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(8))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    life_order: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    traceparent: Mapped[str | None] = mapped_column(String(TRACEPARENT_LENGTH))
    tracestate: Mapped[str | None] = mapped_column(String(TRACESTATE_LENGTH))
    """The trace context of the event it is about, which its ``notification.sent`` continues."""

    @classmethod
    def about_event(cls, event: OrderMessage, reference: str, now: datetime) -> Notification:
        """A waiting notification; its context keeps no contact data and no payment token."""
        return cls(
            id=new_notification_id(),
            order_id=event.order_id,
            about=event.type,
            reference=reference,
            status=NotificationStatus.WAITING,
            context=event.model_dump(mode="json", exclude=PRIVATE_FIELDS),
            life_order=life_order(event.type),
            created_at=now,
        )

    @property
    def message_id(self) -> str:
        """The e-mail's Message-ID: the same on every try, so a mailbox can drop a repeat."""
        return f"<{self.id}@orderflow>"

    def queue(self, recipient: Recipient, message: RenderedMessage, now: datetime) -> None:
        """Rendered for its recipient: the courier sends it after this transaction commits."""
        self.status, self.queued_at = NotificationStatus.PENDING, now
        self.email, self.language = recipient.email, message.language
        self.subject, self.body = message.subject, message.body

    def claim(self, courier: str, until: datetime) -> None:
        """Taken by ``courier`` to send; another may take it over once ``until`` has passed."""
        self.status = NotificationStatus.SENDING
        self.claimed_by, self.claimed_until = courier, until

    def mark_sent(self, now: datetime) -> None:
        """The mail server took it: it is never sent again, and is announced next."""
        self.sent_at = now

    def mark_failed(self, reason: str) -> None:
        """The mail server refused it for good: kept with the server's answer, never retried."""
        self.set_aside(NotificationStatus.FAILED, reason)

    def set_aside(self, status: NotificationStatus, reason: str) -> None:
        """Not sent, never dropped: kept with the reason, for people and audits to see."""
        self.status, self.reason = status, reason[:300]


def sent_announcement(
    notification_id: str, order_id: str, about: str, language: str | None
) -> NotificationSent:
    return NotificationSent(
        order_id=order_id, notification_id=notification_id, about=about, language=language or "en"
    )
