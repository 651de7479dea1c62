"""All of shipping's SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from shared.contracts import CarrierTrackingUpdate, Message
from shared.rows import locked_rows
from shared.service import UnitOfWork

from .model import Shipment


class ShippingUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.shipments = ShipmentStore(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """Lock the batch's shipments with one query, by order id, in order-id order.

        Every message names its order as its subject: the two halves, address changes and
        cancellations by the order id itself. A carrier's update is matched by tracking number,
        but the reference it echoes is the order id: its shipment is locked with the others and
        then found by tracking number without a query of its own. Only updates whose reference
        does not lead to their shipment cost one more query, by tracking number, for all of them
        together; those rows are locked after the others, out of order-id order, so two replicas
        could deadlock on them (PostgreSQL then aborts one batch, which the runtime retries as
        transient).
        """
        self.rows.lock(Shipment.order_id, [m.subject for m in messages])
        updates = [m for m in messages if isinstance(m, CarrierTrackingUpdate)]
        referenced = (self.rows.get(Shipment, m.order_id) for m in updates)
        tracked = {s.tracking_number: s for s in referenced if s is not None and s.tracking_number}
        unmatched = [m.tracking_number for m in updates if m.tracking_number not in tracked]
        # With nothing unmatched this runs no query, but starts the index by tracking number.
        self.rows.lock(Shipment.tracking_number, unmatched)
        for shipment in tracked.values():
            self.shipments.index(shipment)
        for tracking_number in unmatched:
            if (found := self.shipments.by_tracking_number(tracking_number)) is not None:
                self.shipments.index(found)


class ShipmentStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def by_order(self, order_id: str) -> Shipment | None:
        return self.rows.get(Shipment, order_id)

    def read(self, order_id: str) -> Shipment | None:
        """The order's shipment, unlocked, for a tool that only reads it."""
        return self.session.get(Shipment, order_id)

    def by_tracking_number(self, tracking_number: str) -> Shipment | None:
        return self.rows.get(Shipment, tracking_number, by=Shipment.tracking_number)

    def add(self, shipment: Shipment) -> None:
        self.rows.add(shipment)

    def index(self, shipment: Shipment) -> None:
        """A locked shipment, or one whose tracking number is new (just booked): later reads in
        this transaction find it by order id and by tracking number alike, without a query."""
        self.rows.add(shipment)
