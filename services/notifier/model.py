"""Notifier's domain: who to tell about an order, and what they were told.

One notification per event. A handler never sees the event's envelope id, so a notification is
keyed by what the event is about instead: (order id, message type, reference). Events the saga
announces once per order (placed, cancelled) have an empty reference; those that may happen more
than once carry what tells them apart: a shipment id, or the attempt of a rejected submission.
The inbox already skips a redelivered envelope; this key also absorbs the same event announced
again under a new envelope id.

The recipient row is created by whichever event of an order arrives first and locked by every
handler, so one order's notifications are decided one at a time: a notification left pending
because order.placed had not arrived yet cannot miss the order.placed that sends it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import Customer, NotificationSent, OrderMessage
from shared.database import UtcDateTime

from .rendering import RenderedMessage

LIFE_ORDER = (
    "order.placed",
    "order.rejected",
    "order.cancelled",
    "shipment.dispatched",
    "shipment.delivered",
)
PRIVATE_FIELDS = {"customer", "payment"}


class Base(DeclarativeBase):
    pass


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    UNDELIVERABLE = "undeliverable"
    SUPERSEDED = "superseded"


def new_notification_id() -> str:
    return f"ntf_{uuid.uuid4().hex[:24]}"


class Recipient(Base):
    """Who to tell about an order; unknown until order.placed names the customer."""

    __tablename__ = "recipients"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @classmethod
    def of(cls, order_id: str, customer: Customer, now: datetime) -> Recipient:
        recipient = cls(order_id=order_id)
        recipient.learn(customer, now)
        return recipient

    @property
    def known(self) -> bool:
        return self.email is not None

    def learn(self, customer: Customer, now: datetime) -> None:
        self.name, self.email, self.language = customer.name, customer.email, customer.language
        self.updated_at = now


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
    reason: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(8))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    @classmethod
    def about_event(cls, event: OrderMessage, reference: str, now: datetime) -> Notification:
        """A pending notification; its context keeps no personal data and no payment token."""
        return cls(
            id=new_notification_id(),
            order_id=event.order_id,
            about=event.type,
            reference=reference,
            status=NotificationStatus.PENDING,
            context=event.model_dump(mode="json", exclude=PRIVATE_FIELDS),
            created_at=now,
        )

    @property
    def life_order(self) -> int:
        return LIFE_ORDER.index(self.about) if self.about in LIFE_ORDER else len(LIFE_ORDER)

    def mark_sent(
        self, recipient: Recipient, message: RenderedMessage, now: datetime
    ) -> NotificationSent:
        self.status = NotificationStatus.SENT
        self.email, self.language = recipient.email, message.language
        self.subject, self.body, self.sent_at = message.subject, message.body, now
        return NotificationSent(
            order_id=self.order_id,
            notification_id=self.id,
            about=self.about,
            language=message.language,
        )

    def set_aside(self, status: NotificationStatus, reason: str) -> None:
        """Not sent, never dropped: kept with the reason, for people and audits to see."""
        self.status, self.reason = status, reason
