"""What the documents print, read from the workers' own databases: the order (intake), its
fulfilment with pick list and parcels (warehouse) and its shipment (shipping).

Nothing is copied between the workers for printing: like ``order show``, the tool reads each
worker's tables, and the label code is the one the warehouse wrote on the parcel when it
labelled it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.intake.model import Order
from services.intake.store import IntakeUnitOfWork
from services.shipping.model import Shipment
from services.shipping.store import ShippingUnitOfWork
from services.warehouse.model import Fulfillment
from services.warehouse.status import FulfillmentStatus
from services.warehouse.store import WarehouseUnitOfWork
from shared.contracts import original_order

from ..cluster.databases import WorkerDatabases

WORKERS = ["intake", "warehouse", "shipping"]
"""The databases the documents read."""


class NotPrintable(LookupError):
    """The order (or a part of it a document needs) is not there."""


@dataclass(frozen=True)
class Papers:
    """Everything the documents of one order print; ``order`` is the intake order (for an
    after-sales replacement, the order it replaces)."""

    order_id: str
    order: Order
    fulfillment: Fulfillment | None
    shipment: Shipment | None

    @property
    def language(self) -> str:
        return self.order.customer.language if self.order.customer else "en"

    @property
    def country(self) -> str | None:
        delivery = self.shipment.delivery if self.shipment else None
        delivery = delivery or self.order.delivery
        return delivery.address.country if delivery else None

    def packed(self) -> Fulfillment:
        if self.fulfillment is None or self.fulfillment.status != FulfillmentStatus.PACKED:
            raise NotPrintable(f"order {self.order_id}: not packed yet, so it has no parcels")
        return self.fulfillment

    def booked(self) -> Shipment:
        if self.shipment is None or self.shipment.carrier is None:
            raise NotPrintable(f"order {self.order_id}: no carrier booked yet, so no label")
        return self.shipment


def papers(dbs: WorkerDatabases, order_id: str) -> Papers:
    """One order's records from the three databases."""
    with dbs.session("intake") as session:
        order = IntakeUnitOfWork(session).orders.get(original_order(order_id))
    if order is None or order.customer is None:
        raise NotPrintable(f"no order has the id {order_id!r}")
    with dbs.session("warehouse") as session:
        fulfillment = WarehouseUnitOfWork(session).fulfillments.by_order(order_id)
    with dbs.session("shipping") as session:
        shipment = ShippingUnitOfWork(session).shipments.read(order_id)
    return Papers(order_id, order, fulfillment, shipment)


def wave(dbs: WorkerDatabases, since: datetime, until: datetime) -> list[Fulfillment]:
    """Fulfilments that became ready to pick in [since, until) and were not cancelled: a wave
    of picking, printed together."""
    with dbs.session("warehouse") as session:
        changed = WarehouseUnitOfWork(session).fulfillments.changed_since(since)
    return [
        fulfillment
        for fulfillment in changed
        if fulfillment.status != FulfillmentStatus.CANCELLED
        and (ready := fulfillment.ready_at) is not None
        and since <= ready < until
    ]


def fulfillments(dbs: WorkerDatabases, order_ids: list[str]) -> list[Fulfillment]:
    """The named orders' fulfilments, each of which must have its pick list."""
    found = []
    with dbs.session("warehouse") as session:
        store = WarehouseUnitOfWork(session).fulfillments
        for order_id in order_ids:
            fulfillment = store.by_order(order_id)
            if fulfillment is None or not fulfillment.pick_list:
                raise NotPrintable(f"order {order_id}: the warehouse has no pick list for it")
            found.append(fulfillment)
    return found
