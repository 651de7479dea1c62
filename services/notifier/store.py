"""All of notifier's SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from shared import tracing
from shared.contracts import Message, OrderMessage
from shared.database import KeyedStatement
from shared.rows import locked_rows
from shared.service import UnitOfWork

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
        query = _OF_ORDERS.on(self.session)
        for notification in self.session.scalars(query, {"keys": wanted}):
            self._of_order[notification.order_id].append(notification)

    def find(self, order_id: str, about: str, reference: str = "") -> Notification | None:
        found = (n for n in self._of(order_id) if (n.about, n.reference) == (about, reference))
        return next(found, None)

    def add(self, notification: Notification) -> None:
        """Keep ``notification`` with the trace context of the event it is about: the handler's."""
        of_order = self._of(notification.order_id)  # loaded before the new row can be flushed
        trace = tracing.current() or {}
        notification.traceparent = trace.get("traceparent")
        notification.tracestate = trace.get("tracestate")
        self.rows.add(notification)
        of_order.append(notification)

    def waiting(self, order_id: str) -> list[Notification]:
        """Those waiting for their recipient, in the order of the order's life."""
        found = [n for n in self._of(order_id) if n.status == NotificationStatus.WAITING]
        return sorted(found, key=lambda n: (n.life_order, n.created_at))

    def _of(self, order_id: str) -> list[Notification]:
        self.preload([order_id])
        return self._of_order[order_id]

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


_OF_ORDERS = KeyedStatement(
    Notification.order_id,
    lambda keys: (
        select(Notification)
        .where(keys)
        .order_by(Notification.order_id, Notification.created_at, Notification.id)
        .with_for_update()
    ),
)
"""The notifications of ``:keys`` (order ids), locked."""

NOTIFICATIONS: Table = Notification.__table__  # type: ignore[assignment]
_HELD = (
    NOTIFICATIONS.c.id == bindparam("notification_id"),
    NOTIFICATIONS.c.status == NotificationStatus.SENDING,
    NOTIFICATIONS.c.claimed_by == bindparam("courier"),
)
_SENT = update(NOTIFICATIONS).where(*_HELD).values(sent_at=bindparam("sent_at"))
_FAILED = (
    update(NOTIFICATIONS)
    .where(*_HELD)
    .values(
        status=NotificationStatus.FAILED,
        reason=bindparam("failure"),
        claimed_by=None,
        claimed_until=None,
    )
)
"""Built once: the courier runs one of them per e-mail, and building it cost as much as
running it."""


def record_outcome(marks: Connection, notification: Notification, courier: str) -> bool:
    """Record a claimed notification's outcome, sent (``sent_at``) or failed, on ``marks``, a
    connection that commits each statement on its own (one round trip, one commit); False if
    ``courier`` no longer holds it (another courier took it over)."""
    held = {"notification_id": notification.id, "courier": courier}
    if notification.status == NotificationStatus.FAILED:
        result = marks.execute(_FAILED, {**held, "failure": notification.reason})
    else:
        result = marks.execute(_SENT, {**held, "sent_at": notification.sent_at})
    return result.rowcount == 1


class Unannounced(NamedTuple):
    id: str
    order_id: str
    about: str
    language: str | None
    traceparent: str | None
    tracestate: str | None


def claimed_by(marks: Connection, notification_id: str) -> str | None:
    """Who holds a notification's claim (None: nobody, it was settled and announced)."""
    query = select(NOTIFICATIONS.c.claimed_by).where(NOTIFICATIONS.c.id == notification_id)
    return marks.scalar(query)


class CourierStore:
    """The courier's SQL in its transactions (see ``delivery``): claim a batch, announce what was
    sent, give back what was not. Plain UPDATEs of the table where the ORM's unit of work would
    cost more Python per e-mail than the statement."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, courier: str, now: datetime, until: datetime, limit: int) -> list[Notification]:
        """The oldest notifications to send, claimed by ``courier`` until ``until``.

        Pending ones, and unsent ones whose claim ran out (their courier died) or is this
        courier's own (a claim or a release whose commit it did not hear of: it records what it
        sent before it claims again). Rows another courier is claiming at this moment are
        skipped (locked); those it holds are ``sending`` under its name, so two couriers never
        send the same one. An order's notifications go in the order of its life.

        They come back detached: the courier changes them in memory and records each outcome
        only while the claim is still its own.
        """
        query = (
            select(Notification)
            .where(
                Notification.status.in_([NotificationStatus.PENDING, NotificationStatus.SENDING]),
                or_(
                    Notification.status == NotificationStatus.PENDING,
                    and_(
                        Notification.sent_at.is_(None),
                        or_(Notification.claimed_until < now, Notification.claimed_by == courier),
                    ),
                ),
            )
            .order_by(Notification.queued_at, Notification.life_order, Notification.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = list(self.session.scalars(query))
        for notification in claimed:
            self.session.expunge(notification)
        if claimed:
            c = NOTIFICATIONS.c
            self.session.execute(
                update(NOTIFICATIONS)
                .where(c.id.in_([n.id for n in claimed]))
                .values(status=NotificationStatus.SENDING, claimed_by=courier, claimed_until=until)
            )
        for notification in claimed:
            notification.claim(courier, until)
        return claimed

    def take_unannounced(self, limit: int) -> list[Unannounced]:
        """Sent notifications whose ``notification.sent`` is still to be announced, whoever sent
        them (they never go again, so no lease needs to run out), marked ``sent`` in this
        transaction, which announces them, each with the trace context it continues. Rows another
        courier is announcing are skipped."""
        c = NOTIFICATIONS.c
        query = (
            select(c.id, c.order_id, c.about, c.language, c.traceparent, c.tracestate)
            .where(c.status == NotificationStatus.SENDING, c.sent_at.is_not(None))
            .order_by(c.sent_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = [Unannounced(*row) for row in self.session.execute(query)]
        if rows:
            self.session.execute(
                update(NOTIFICATIONS)
                .where(c.id.in_([row.id for row in rows]))
                .values(status=NotificationStatus.SENT, claimed_by=None, claimed_until=None)
            )
        return rows

    def release(self, notifications: Sequence[Notification], courier: str) -> None:
        """Give back what ``courier`` claimed and did not send, for any courier to take."""
        if notifications:
            c = NOTIFICATIONS.c
            statement = (
                update(NOTIFICATIONS)
                .where(
                    c.id.in_([n.id for n in notifications]),
                    c.status == NotificationStatus.SENDING,
                    c.sent_at.is_(None),
                    c.claimed_by == courier,
                )
                .values(status=NotificationStatus.PENDING, claimed_by=None, claimed_until=None)
            )
            self.session.execute(statement)
