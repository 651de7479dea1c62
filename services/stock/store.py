"""All of stock's SQL: the unit of work and the stores of items and reservations (the stores of
waiting orders, purchase orders and receipts are in ``supply_store``)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.contracts import (
    FulfillmentPacked,
    Message,
    OrderMessage,
    OrderPlaced,
    ReplacementRequested,
    ReturnReceived,
    StockCount,
    StockReceive,
    StockWaitlistDue,
)
from shared.rows import KeyedRows, locked_rows
from shared.service import UnitOfWork

from .model import Item, LedgerEntry, Movement, Reservation, ReservationStatus
from .rules import resellable
from .supply import CountRecord, Receipt, ReturnReceipt
from .supply_store import BackorderStore, PurchaseOrderStore


class StockUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.items = ItemStore(session)
        self.reservations = ReservationStore(session)
        self.backorders = BackorderStore(session)
        self.purchase_orders = PurchaseOrderStore(session)
        self.receipts = KeyedRows(session, Receipt)
        self.returns = KeyedRows(session, ReturnReceipt)
        self.counts = KeyedRows(session, CountRecord)

    def preload(self, messages: Sequence[Message]) -> None:
        """Lock what the batch touches, one query per table, always in this order: the queue of
        the SKUs goods came for (a read: a waiting order's lock is its reservation row), the
        batch's and those waiting orders' reservations, receipts, customers' returns, the SKUs'
        open purchase orders, then every SKU in SKU order, so concurrent batches cannot deadlock.
        A physical count locks its counts row and the reserved orders that hold a counted SKU.
        A packed order's row is all ``fulfillment.packed`` changes: it locks no SKU.

        A replacement is an order of its own (its reservation is the case id's) that never
        waits, so it needs no purchase orders locked. A customer's return names the order it was
        sold with, but touches only its RMA's row and the SKUs that go back on the shelf.
        """
        returns = [m for m in messages if isinstance(m, ReturnReceived)]
        packing = {m.subject for m in messages if isinstance(m, FulfillmentPacked)}
        orders = {
            m.subject
            for m in messages
            if isinstance(m, OrderMessage) and not isinstance(m, ReturnReceived | FulfillmentPacked)
        }
        receipts = [m for m in messages if isinstance(m, StockReceive)]
        serving = {m.sku for m in messages if isinstance(m, StockReceive | StockWaitlistDue)}
        ordered = {line.sku for m in messages if isinstance(m, OrderPlaced) for line in m.lines}
        replaced = {
            line.sku for m in messages if isinstance(m, ReplacementRequested) for line in m.lines
        }
        restocked = {sku for m in returns for sku in resellable(m.lines)}
        counts = [m for m in messages if isinstance(m, StockCount)]
        counted = {line.sku for m in counts for line in m.lines}
        queued = self.backorders.locate(serving)
        orders |= self.reservations.holding_ids(counted)
        self.rows.lock(Reservation.order_id, orders | packing | queued)
        self.rows.lock(CountRecord.count_id, (m.count_id for m in counts))
        self.rows.lock(Receipt.receipt_id, (m.receipt_id for m in receipts))
        self.rows.lock(ReturnReceipt.rma, (m.rma for m in returns))
        purchase_orders = (m.purchase_order_id for m in receipts)
        self.purchase_orders.lock(ordered | serving, purchase_orders)
        skus = ordered | serving | replaced | restocked | counted
        for order_id in orders | queued:
            reservation = self.rows.get(Reservation, order_id)
            if reservation is not None:
                skus.update(reservation.wanted)
        self.rows.lock(Item.sku, skus)


class ItemStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def lock(self, skus: Iterable[str]) -> dict[str, Item]:
        """Lock the rows in SKU order, so concurrent reservations cannot deadlock."""
        wanted = sorted(set(skus))
        self.rows.lock(Item.sku, wanted)
        found = {sku: self.rows.get(Item, sku) for sku in wanted}
        return {sku: item for sku, item in found.items() if item is not None}

    def get(self, sku: str) -> Item | None:
        return self.rows.get(Item, sku)

    def add(self, item: Item) -> None:
        self.rows.add(item)

    def record(self, entries: Iterable[LedgerEntry]) -> None:
        """Store the ledger entries of movements the model made."""
        self.session.add_all(list(entries))

    def move(
        self, item: Item, movement: Movement, quantity: int, order_id: str | None, at: datetime
    ) -> None:
        """Change on-hand stock and record why, in one place."""
        self.record([item.move(movement, quantity, order_id, at)])

    def all(self) -> list[Item]:
        return list(self.session.scalars(select(Item).order_by(Item.sku)))

    def moved_after(self, skus: Collection[str], moment: datetime) -> list[LedgerEntry]:
        """The ledger entries of ``skus`` after ``moment``: what a count taken then did not
        see (a read: the items are locked)."""
        query = select(LedgerEntry).where(LedgerEntry.sku.in_(skus), LedgerEntry.at > moment)
        return list(self.session.scalars(query.order_by(LedgerEntry.id)))

    def ledger_totals(self) -> dict[str, int]:
        query = select(LedgerEntry.sku, func.sum(LedgerEntry.quantity)).group_by(LedgerEntry.sku)
        return {sku: int(total) for sku, total in self.session.execute(query)}


class ReservationStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def get(self, order_id: str) -> Reservation | None:
        return self.rows.get(Reservation, order_id)

    def add(self, reservation: Reservation) -> None:
        self.rows.add(reservation)

    def read(self, order_ids: Collection[str]) -> list[Reservation]:
        """The reservations of ``order_ids`` there are, for what they recorded (a read, no
        lock: a batch locks reservations before items, and this comes after)."""
        if not order_ids:
            return []
        query = select(Reservation).where(Reservation.order_id.in_(order_ids))
        return list(self.session.scalars(query.order_by(Reservation.order_id)))

    def waiting(self, order_ids: Sequence[str]) -> list[Reservation]:
        """The orders among ``order_ids`` that still wait, in the order given."""
        self.rows.lock(Reservation.order_id, order_ids)
        found = (self.rows.get(Reservation, order_id) for order_id in order_ids)
        return [r for r in found if r is not None and r.status == ReservationStatus.BACKORDERED]

    def holding_ids(self, skus: Collection[str]) -> set[str]:
        """The reserved orders that hold one of ``skus`` (a read: callers lock them). Every
        open reservation is read, as its lines are JSON: a count is rare, orders are not."""
        if not skus:
            return set()
        query = select(Reservation.order_id, Reservation.lines).where(
            Reservation.status == ReservationStatus.RESERVED
        )
        return {
            order_id
            for order_id, lines in self.session.execute(query)
            if any(line.sku in skus for line in lines)
        }

    def holding(self, skus: Collection[str]) -> list[Reservation]:
        """The reserved orders that hold one of ``skus``, locked."""
        ids = sorted(self.holding_ids(skus))
        self.rows.lock(Reservation.order_id, ids)
        found = (self.rows.get(Reservation, order_id) for order_id in ids)
        return [
            r
            for r in found
            if r is not None and r.status == ReservationStatus.RESERVED and r.wanted.keys() & skus
        ]

    def ids_with_status(self, status: str) -> list[str]:
        query = select(Reservation.order_id).where(Reservation.status == status)
        return list(self.session.scalars(query))

    def open_quantities(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        query = select(Reservation).where(Reservation.status == "reserved")
        for reservation in self.session.scalars(query):
            for line in reservation.lines:
                totals[line.sku] = totals.get(line.sku, 0) + line.quantity
        return totals
