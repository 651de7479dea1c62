"""All of intake's SQL: the orders, locked for handlers, plain reads for the CLI; the catalogue
of SKUs stock listed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from shared.contracts import (
    Message,
    OrderMessage,
    OrderSubmit,
    ReplacementRequested,
    StockItemListed,
)
from shared.rows import locked_rows
from shared.service import UnitOfWork

from .model import CatalogueItem, Order, OrderStatus
from .submission import SubmissionKey


class IntakeUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.orders = OrderStore(session)
        self.catalogue = CatalogueStore(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """The orders events name by id and those submissions name by (channel, external id);
        which of the SKUs the submissions order (and listings name) the catalogue holds."""
        submits = [m for m in messages if isinstance(m, OrderSubmit)]
        self.orders.preload(
            order_ids=(order_of(m) for m in messages if isinstance(m, OrderMessage)),
            keys=(SubmissionKey.of(m) for m in submits),
        )
        self.catalogue.preload(
            [line.sku for m in submits for line in m.lines]
            + [m.sku for m in messages if isinstance(m, StockItemListed)]
        )


def order_of(message: OrderMessage) -> str:
    """The intake order a message is about: a replacement's order id is its case id, and the
    order it replaces is the one whose case it opens."""
    if isinstance(message, ReplacementRequested):
        return message.replaces_order
    return message.order_id


class OrderStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def preload(self, order_ids: Iterable[str], keys: Iterable[SubmissionKey]) -> None:
        """Lock the orders named by id or by submission key with one locking query, in id order.

        Keys are resolved to ids first, without a lock, so every replica takes an order's lock
        at the same point of the id order, whichever way its messages name the order. The last
        query only tells ``rows`` which keys have an order (those orders are already locked) and
        which have none yet. At most three SELECTs, however many messages.
        """
        wanted = sorted(set(keys))
        ids = set(order_ids)
        if wanted:
            ids.update(self.session.scalars(select(Order.id).where(Order.submission.in_(wanted))))
        self.rows.lock(Order.id, ids)
        self.rows.lock(Order.submission, wanted)

    def lock(self, order_id: str) -> Order | None:
        return self.rows.get(Order, order_id)

    def lock_by_key(self, key: SubmissionKey) -> Order | None:
        return self.rows.get(Order, key, by=Order.submission)

    def add(self, order: Order) -> None:
        self.rows.add(order)

    def get(self, order_id: str) -> Order | None:
        return self.session.get(Order, order_id)

    def recent(self, limit: int = 50, status: str | None = None) -> list[Order]:
        query = select(Order).order_by(Order.submitted_at.desc(), Order.id).limit(limit)
        if status is not None:
            query = query.where(Order.status == status)
        return list(self.session.scalars(query))

    def by_status(self, now: datetime, bounds: Mapping[str, float]) -> list[StatusCount]:
        """Orders per (status, channel): how many, the oldest's last change, and how many are
        past their status's bound (see ``stuck``); one aggregate query."""
        past = case((_past_bound(now, bounds), 1), else_=0)
        query = select(
            Order.status, Order.channel, func.count(), func.min(Order.updated_at), func.sum(past)
        ).group_by(Order.status, Order.channel)
        return [
            StatusCount(status, channel, int(count), oldest, int(stuck or 0))
            for status, channel, count, oldest, stuck in self.session.execute(query)
        ]

    def stuck(self, now: datetime, bounds: Mapping[str, float], limit: int) -> list[Order]:
        """Orders in a status longer (since their last change) than its bound, oldest first."""
        query = select(Order).where(_past_bound(now, bounds))
        return list(self.session.scalars(query.order_by(Order.updated_at, Order.id).limit(limit)))

    def held(self, limit: int) -> list[Order]:
        """Orders held for review, the soonest due first (the reviewer's queue)."""
        query = select(Order).where(Order.status == OrderStatus.HELD)
        return list(self.session.scalars(query.order_by(Order.review_due, Order.id).limit(limit)))

    def counts_by_status(self) -> dict[str, int]:
        query = select(Order.status, func.count()).group_by(Order.status)
        return {status: int(count) for status, count in self.session.execute(query)}


@dataclass(frozen=True)
class StatusCount:
    status: str
    channel: str
    count: int
    oldest: datetime
    """The last change of the one that changed longest ago."""
    stuck: int


def _past_bound(now: datetime, bounds: Mapping[str, float]) -> ColumnElement[bool]:
    """An order in one of ``bounds``' statuses that has not changed for longer than its bound."""
    past = [
        and_(Order.status == status, Order.updated_at < now - timedelta(seconds=seconds))
        for status, seconds in bounds.items()
    ]
    return or_(*past) if past else false()


class CatalogueStore:
    """The SKUs stock has listed, read without locks: a listing only ever adds one, and a
    submission judged a moment before a listing commits is rejected as it would have been a
    moment earlier (its channel sends the correction)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._known: dict[str, bool] = {}

    def preload(self, skus: Iterable[str]) -> None:
        """Learn which of ``skus`` are listed, with one query for those not known yet."""
        wanted = sorted(set(skus) - self._known.keys())
        if not wanted:
            return
        query = select(CatalogueItem.sku).where(CatalogueItem.sku.in_(wanted))
        found = set(self.session.scalars(query))
        self._known.update((sku, sku in found) for sku in wanted)

    def listed(self, skus: Iterable[str]) -> set[str]:
        """Those of ``skus`` stock has listed."""
        wanted = set(skus)
        self.preload(wanted)
        return {sku for sku in wanted if self._known[sku]}

    def add(self, sku: str, at: datetime) -> bool:
        """List ``sku``; False if it is already. Two replicas listing it at once meet at the
        primary key, and the one that retries finds it listed."""
        if self.listed([sku]):
            return False
        self.session.add(CatalogueItem(sku=sku, listed_at=at))
        self._known[sku] = True
        return True
