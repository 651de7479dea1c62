"""All of stock's SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.contracts import Message, OrderPlaced
from shared.handlers import UnitOfWork
from shared.rows import locked_rows

from .model import Item, LedgerEntry, Movement, Reservation


class StockUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.items = ItemStore(session)
        self.reservations = ReservationStore(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """Reservations first, then every SKU they or the new orders name, in SKU order."""
        self.rows.lock(Reservation.order_id, (m.subject for m in messages))
        skus = {line.sku for m in messages if isinstance(m, OrderPlaced) for line in m.lines}
        for message in messages:
            reservation = self.rows.get(Reservation, message.subject)
            if reservation is not None:
                skus.update(line.sku for line in reservation.reserved_lines)
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
        self.rows = locked_rows(session)

    def get(self, order_id: str) -> Reservation | None:
        return self.rows.get(Reservation, order_id)

    def add(self, reservation: Reservation) -> None:
        self.rows.add(reservation)

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
