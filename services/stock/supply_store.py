"""The SQL of what stock waits for and gets: the queue of waiting orders, purchase orders, goods
receipts and customers' returns.

Two reads are by SKU, which ``shared.rows`` (one row per key) cannot answer: the queue and a
SKU's open purchase orders. Each is one query per batch; the rows it finds join ``rows``, so
reads by key are free, and the store remembers which SKUs it has read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from shared.rows import locked_rows

from .supply import Backorder, PurchaseOrder, PurchaseOrderStatus


@dataclass(frozen=True)
class WaitingOrder:
    order_id: str
    arrived_at: datetime
    expires_on: date
    lines: dict[str, int]


class BackorderStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._arrivals: dict[str, datetime] = {}
        self._located: set[str] = set()

    def locate(self, skus: Iterable[str]) -> set[str]:
        """Read the queue an arrival of ``skus`` may serve: the orders that wait for one of them,
        and every order that waits for any SKU those orders want, so the claims ahead of each
        are known. Returns their ids; their reservation rows are what callers lock."""
        wanted = sorted(set(skus) - self._located)
        if not wanted:
            return set()
        self._located.update(wanted)
        candidates = select(Backorder.order_id).where(Backorder.sku.in_(wanted))
        their_skus = select(Backorder.sku).where(Backorder.order_id.in_(candidates))
        query = (
            select(Backorder.order_id, Backorder.arrived_at)
            .where(Backorder.sku.in_(their_skus))
            .distinct()
        )
        found = {order_id: arrived for order_id, arrived in self.session.execute(query)}
        self._arrivals.update(found)
        return set(found)

    def queue(self, skus: Iterable[str]) -> list[str]:
        """The ids of every waiting order known to this transaction, oldest first."""
        self.locate(skus)
        return sorted(self._arrivals, key=lambda order_id: (self._arrivals[order_id], order_id))

    def add(self, lines: list[Backorder]) -> None:
        self.session.add_all(lines)
        for line in lines:
            self._arrivals[line.order_id] = line.arrived_at

    def remove(self, order_id: str) -> None:
        """The order no longer waits: it leaves the queue."""
        self.session.execute(delete(Backorder).where(Backorder.order_id == order_id))
        self._arrivals.pop(order_id, None)

    def waiting(self) -> list[WaitingOrder]:
        """Every waiting order, oldest first (for the audit)."""
        orders: dict[str, WaitingOrder] = {}
        query = select(Backorder).order_by(Backorder.arrived_at, Backorder.order_id)
        for line in self.session.scalars(query):
            order = orders.setdefault(
                line.order_id, WaitingOrder(line.order_id, line.arrived_at, line.expires_on, {})
            )
            order.lines[line.sku] = line.quantity
        return list(orders.values())

    def waiting_quantities(self) -> dict[str, int]:
        """Per SKU, what waiting orders claim (for the audit: equals ``Item.backordered``)."""
        query = select(Backorder.sku, func.sum(Backorder.quantity)).group_by(Backorder.sku)
        return {sku: int(total) for sku, total in self.session.execute(query)}


class PurchaseOrderStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)
        self._open: dict[str, list[PurchaseOrder]] = {}
        self._asked: set[str] = set()

    def lock(self, skus: Iterable[str], ids: Iterable[str | None] = ()) -> None:
        """Lock the open purchase orders of ``skus`` and those named, in one query."""
        wanted = sorted(set(skus) - self._open.keys())
        named = sorted({i for i in ids if i is not None} - self._asked)
        self._asked.update(named)
        found: list[ColumnElement[bool]] = []
        if wanted:
            is_open = PurchaseOrder.status == PurchaseOrderStatus.OPEN
            found.append(and_(is_open, PurchaseOrder.sku.in_(wanted)))
        if named:
            found.append(PurchaseOrder.id.in_(named))
        if found:
            query = (
                select(PurchaseOrder)
                .where(or_(*found))
                .order_by(PurchaseOrder.id)
                .with_for_update()
            )
            for sku in wanted:
                self._open[sku] = []
            for order in self.session.scalars(query):
                self._remember(order)
        self.rows.lock(PurchaseOrder.id, named)  # remembers the ids no row has

    def get(self, purchase_order_id: str) -> PurchaseOrder | None:
        return self.rows.get(PurchaseOrder, purchase_order_id)

    def open_for(self, sku: str) -> list[PurchaseOrder]:
        """The SKU's open purchase orders, soonest expected first."""
        self.lock([sku])
        orders = [o for o in self._open[sku] if o.status == PurchaseOrderStatus.OPEN]
        return sorted(orders, key=lambda o: (o.expected_on, o.id))

    def add(self, order: PurchaseOrder) -> None:
        self.rows.add(order)
        self._open.setdefault(order.sku, []).append(order)

    def outstanding_quantities(self) -> dict[str, int]:
        """Per SKU, what open purchase orders still bring (for the audit: ``Item.on_order``)."""
        outstanding = func.sum(PurchaseOrder.quantity - PurchaseOrder.received)
        query = (
            select(PurchaseOrder.sku, outstanding)
            .where(PurchaseOrder.status == PurchaseOrderStatus.OPEN)
            .group_by(PurchaseOrder.sku)
        )
        return {sku: int(total) for sku, total in self.session.execute(query)}

    def _remember(self, order: PurchaseOrder) -> None:
        self.rows.add(order)  # already in the session: this only makes reads by id free
        known = self._open.get(order.sku)
        if known is not None and order.status == PurchaseOrderStatus.OPEN and order not in known:
            known.append(order)
