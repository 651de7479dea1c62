"""All of the warehouse's SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.contracts import Message
from shared.rows import locked_rows
from shared.service import UnitOfWork

from .model import Fulfillment


class WarehouseUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.fulfillments = FulfillmentStore(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """Every fulfilment the batch names, in order id order: every message the warehouse
        handles is about one order (pick lists, payments, cancels), named by its subject.

        Their parcels come with them in one ``SELECT … IN`` (the relationship loads
        ``selectin``) and their steps are a column of the row; the fulfilment's lock covers its
        parcels, as only its holder changes them.
        """
        self.rows.lock(Fulfillment.order_id, (message.subject for message in messages))


class FulfillmentStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def get(self, order_id: str) -> Fulfillment | None:
        """The order's fulfilment, locked for the rest of the transaction."""
        return self.rows.get(Fulfillment, order_id)

    def add(self, fulfillment: Fulfillment) -> None:
        self.rows.add(fulfillment)

    def by_order(self, order_id: str) -> Fulfillment | None:
        """The order's fulfilment, parcels included, to read only."""
        return self.session.get(Fulfillment, order_id)

    def changed_since(self, since: datetime) -> list[Fulfillment]:
        """Fulfilments whose last change is at or after ``since``, parcels included, to read
        only: every fulfilment that became ready since then is among them (printing a wave)."""
        query = select(Fulfillment).where(Fulfillment.updated_at >= since)
        return list(self.session.scalars(query.order_by(Fulfillment.order_id)))
