"""All of stock's SQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.handlers import UnitOfWork

from .model import Item, LedgerEntry, Movement, Reservation


class StockUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.items = ItemStore(session)
        self.reservations = ReservationStore(session)


class ItemStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self, skus: Iterable[str]) -> dict[str, Item]:
        """Lock the rows in SKU order, so concurrent reservations cannot deadlock."""
        query = select(Item).where(Item.sku.in_(sorted(set(skus)))).order_by(Item.sku)
        return {item.sku: item for item in self.session.scalars(query.with_for_update())}

    def get(self, sku: str) -> Item | None:
        return self.session.get(Item, sku, with_for_update=True)

    def add(self, item: Item) -> None:
        self.session.add(item)

    def move(
        self, item: Item, movement: Movement, quantity: int, order_id: str | None, at: datetime
    ) -> None:
        """Change on-hand stock and record why, in one place."""
        item.on_hand += quantity
        self.session.add(
            LedgerEntry(
                sku=item.sku, movement=movement, quantity=quantity, order_id=order_id, at=at
            )
        )

    def all(self) -> list[Item]:
        return list(self.session.scalars(select(Item).order_by(Item.sku)))

    def ledger_totals(self) -> dict[str, int]:
        query = select(LedgerEntry.sku, func.sum(LedgerEntry.quantity)).group_by(LedgerEntry.sku)
        return {sku: int(total) for sku, total in self.session.execute(query)}


class ReservationStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, order_id: str) -> Reservation | None:
        return self.session.get(Reservation, order_id, with_for_update=True)

    def add(self, reservation: Reservation) -> None:
        self.session.add(reservation)

    def ids_with_status(self, status: str) -> list[str]:
        query = select(Reservation.order_id).where(Reservation.status == status)
        return list(self.session.scalars(query))

    def open_quantities(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        query = select(Reservation).where(Reservation.status == "reserved")
        for reservation in self.session.scalars(query):
            for line in reservation.reserved_lines:
                totals[line.sku] = totals.get(line.sku, 0) + line.quantity
        return totals
