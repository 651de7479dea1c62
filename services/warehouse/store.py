"""All of the warehouse's SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from shared.contracts import Message
from shared.handlers import UnitOfWork
from shared.rows import locked_rows

from .model import Fulfillment


class WarehouseUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.fulfillments = FulfillmentStore(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """Every fulfilment the batch names, in order id order.

        Their parcels and steps come with them, one ``SELECT … IN`` per table (the relationships
        load ``selectin``); the fulfilment's lock covers them, as only its holder changes them.
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
        """The order's fulfilment, parcels and steps included, to read only."""
        return self.session.get(Fulfillment, order_id)
