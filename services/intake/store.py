"""All of intake's SQL: the orders, locked for handlers, plain reads for the CLI."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.handlers import UnitOfWork

from .model import Order
from .submission import SubmissionKey


class IntakeUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.orders = OrderStore(session)


class OrderStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self, order_id: str) -> Order | None:
        return self.session.get(Order, order_id, with_for_update=True)

    def lock_by_key(self, key: SubmissionKey) -> Order | None:
        query = select(Order).where(
            Order.channel == key.channel, Order.external_id == key.external_id
        )
        return self.session.scalars(query.with_for_update()).one_or_none()

    def add(self, order: Order) -> None:
        self.session.add(order)

    def get(self, order_id: str) -> Order | None:
        return self.session.get(Order, order_id)

    def recent(self, limit: int = 50, status: str | None = None) -> list[Order]:
        query = select(Order).order_by(Order.submitted_at.desc(), Order.id).limit(limit)
        if status is not None:
            query = query.where(Order.status == status)
        return list(self.session.scalars(query))

    def counts_by_status(self) -> dict[str, int]:
        query = select(Order.status, func.count()).group_by(Order.status)
        return {status: int(count) for status, count in self.session.execute(query)}
