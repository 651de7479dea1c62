"""All of shipping's SQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.handlers import UnitOfWork

from .model import Shipment


class ShippingUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.shipments = ShipmentStore(session)


class ShipmentStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_order(self, order_id: str) -> Shipment | None:
        return self.session.get(Shipment, order_id, with_for_update=True)

    def by_tracking_number(self, tracking_number: str) -> Shipment | None:
        query = select(Shipment).where(Shipment.tracking_number == tracking_number)
        return self.session.scalars(query.with_for_update()).one_or_none()

    def add(self, shipment: Shipment) -> None:
        self.session.add(shipment)
