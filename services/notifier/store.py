"""All of notifier's SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.contracts import Message, OrderMessage
from shared.handlers import UnitOfWork
from shared.rows import locked_rows

from .model import Notification, NotificationStatus, Recipient


class NotifierUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.recipients = RecipientStore(session)
        self.notifications = NotificationStore(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """The recipients of the batch's orders first, then what those orders were told."""
        order_ids = sorted({m.order_id for m in messages if isinstance(m, OrderMessage)})
        self.rows.lock(Recipient.order_id, order_ids)
        self.notifications.preload(order_ids)


class RecipientStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def lock(self, order_id: str, now: datetime) -> Recipient:
        """The order's recipient row, locked; created (still unknown) by the first event."""
        recipient = self.rows.get(Recipient, order_id)
        if recipient is None:
            recipient = Recipient(order_id=order_id, updated_at=now)
            self.rows.add(recipient)
        return recipient


class NotificationStore:
    """An order's notifications, locked and kept by order for the handlers of a batch.

    ``LockedRows`` holds one row per key, and an order has many notifications, so this store
    keeps them itself: one locking query loads those of a whole batch's orders (``preload``),
    or of one order the first time a handler asks about it; ``add`` keeps new ones in step.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)
        self._of_order: dict[str, list[Notification]] = {}

    def preload(self, order_ids: Iterable[str]) -> None:
        wanted = sorted(set(order_ids) - self._of_order.keys())
        if not wanted:
            return
        for order_id in wanted:
            self._of_order[order_id] = []
        query = (
            select(Notification)
            .where(Notification.order_id.in_(wanted))
            .order_by(Notification.order_id, Notification.created_at, Notification.id)
            .with_for_update()
        )
        for notification in self.session.scalars(query):
            self._of_order[notification.order_id].append(notification)

    def find(self, order_id: str, about: str, reference: str = "") -> Notification | None:
        found = (n for n in self._of(order_id) if (n.about, n.reference) == (about, reference))
        return next(found, None)

    def add(self, notification: Notification) -> None:
        of_order = self._of(notification.order_id)  # loaded before the new row can be flushed
        self.rows.add(notification)
        of_order.append(notification)

    def waiting(self, order_id: str) -> list[Notification]:
        """Those waiting for their recipient, in the order of the order's life."""
        found = [n for n in self._of(order_id) if n.status == NotificationStatus.WAITING]
        return sorted(found, key=lambda n: (n.life_order, n.created_at))

    def _of(self, order_id: str) -> list[Notification]:
        self.preload([order_id])
        return self._of_order[order_id]

    def claim_pending(self, limit: int) -> list[Notification]:
        """The oldest rendered notifications not sent yet, locked for the courier.

        Rows another replica's courier holds are skipped, so two couriers never send the same
        one; an order's notifications go in the order of its life.
        """
        query = (
            select(Notification)
            .where(Notification.status == NotificationStatus.PENDING)
            .order_by(Notification.queued_at, Notification.life_order, Notification.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(self.session.scalars(query))

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
