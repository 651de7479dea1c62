"""All of the warehouse's SQL."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.handlers import UnitOfWork

from .model import Fulfillment


class WarehouseUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.fulfillments = FulfillmentStore(session)


class FulfillmentStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, order_id: str) -> Fulfillment | None:
        """The order's fulfilment, locked for the rest of the transaction."""
        return self.session.get(Fulfillment, order_id, with_for_update=True)

    def add(self, fulfillment: Fulfillment) -> None:
        self.session.add(fulfillment)

    def by_order(self, order_id: str) -> Fulfillment | None:
        """The order's fulfilment, parcels and steps included, to read only."""
        return self.session.get(Fulfillment, order_id)
