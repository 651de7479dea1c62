"""All of notifier's SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.handlers import UnitOfWork

from .model import Notification, NotificationStatus, Recipient


class NotifierUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.recipients = RecipientStore(session)
        self.notifications = NotificationStore(session)


class RecipientStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self, order_id: str, now: datetime) -> Recipient:
        """The order's recipient row, locked; created (still unknown) by the first event."""
        recipient = self.session.get(Recipient, order_id, with_for_update=True)
        if recipient is None:
            recipient = Recipient(order_id=order_id, updated_at=now)
            self.session.add(recipient)
        return recipient


class NotificationStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, order_id: str, about: str, reference: str = "") -> Notification | None:
        query = select(Notification).where(
            Notification.order_id == order_id,
            Notification.about == about,
            Notification.reference == reference,
        )
        return self.session.scalars(query).one_or_none()

    def add(self, notification: Notification) -> None:
        self.session.add(notification)

    def pending(self, order_id: str) -> list[Notification]:
        """Pending notifications in the order of the order's life, so "received" comes first."""
        query = select(Notification).where(
            Notification.order_id == order_id,
            Notification.status == NotificationStatus.PENDING,
        )
        found = self.session.scalars(query.order_by(Notification.created_at))
        return sorted(found, key=lambda notification: notification.life_order)

    def for_order(self, order_id: str) -> list[Notification]:
        query = select(Notification).where(Notification.order_id == order_id)
        return list(self.session.scalars(query.order_by(Notification.created_at)))

    def sent_counts(self) -> dict[tuple[str, str], int]:
        """How many notifications went out per (order, message type): for invariant checks."""
        query = (
            select(Notification.order_id, Notification.about, func.count())
            .where(Notification.status == NotificationStatus.SENT)
            .group_by(Notification.order_id, Notification.about)
        )
        return {(order_id, about): count for order_id, about, count in self.session.execute(query)}
