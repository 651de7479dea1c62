"""All of after-sales' SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from shared.contracts import Message, original_order
from shared.rows import locked_rows
from shared.service import UnitOfWork

from .model import Order


class AftersalesUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.orders = OrderStore(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """Lock the batch's orders with one query, in order-id order: a replacement's events
        lock the order it belongs to."""
        self.rows.lock(Order.order_id, [original_order(m.subject) for m in messages])


class OrderStore:
    def __init__(self, session: Session) -> None:
        self.rows = locked_rows(session)

    def get(self, order_id: str) -> Order | None:
        return self.rows.get(Order, order_id)

    def get_or_open(self, order_id: str) -> Order:
        """The order, or a new row for it: its events may come before ``order.placed``."""
        order = self.get(order_id)
        if order is None:
            order = Order.opened(order_id)
            self.rows.add(order)
        return order
