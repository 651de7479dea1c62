"""Stock's domain: items on hand, reservations per order, and a ledger of every movement.

The ledger is what makes invariant 2 checkable: for every SKU, the sum of its movements equals
its on-hand quantity, and reserved stock is the sum of open reservations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import OrderLine, ReservedLine, Shortage
from shared.database import UtcDateTime


class Base(DeclarativeBase):
    pass


class Movement(StrEnum):
    ADJUSTED = "adjusted"
    RECEIVED = "received"
    COMMITTED = "committed"
    RESTOCKED = "restocked"


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    COMMITTED = "committed"
    RELEASED = "released"


class Item(Base):
    __tablename__ = "items"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(32), default="A-01-01")
    weight_grams: Mapped[int] = mapped_column(Integer, default=500)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class LedgerEntry(Base):
    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("items.sku"), index=True)
    movement: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class Reservation(Base):
    __tablename__ = "reservations"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    lines: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @property
    def reserved_lines(self) -> list[ReservedLine]:
        return [ReservedLine.model_validate(line) for line in self.lines]


@dataclass(frozen=True)
class Allocation:
    """The outcome of trying to reserve an order's lines against what is available."""

    reserved: list[ReservedLine]
    shortages: list[Shortage]
    unknown: list[str]

    @property
    def complete(self) -> bool:
        return not self.shortages and not self.unknown


def allocate(lines: list[OrderLine], items: dict[str, Item]) -> Allocation:
    """All or nothing: every line must fit in what is available, or nothing is reserved."""
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    unknown = sorted(sku for sku in wanted if sku not in items)
    shortages = [
        Shortage(sku=sku, requested=qty, available=max(items[sku].available, 0))
        for sku, qty in sorted(wanted.items())
        if sku in items and items[sku].available < qty
    ]
    reserved = [
        ReservedLine(
            sku=sku,
            quantity=qty,
            location=items[sku].location,
            unit_weight_grams=items[sku].weight_grams,
        )
        for sku, qty in sorted(wanted.items())
        if sku in items
    ]
    return Allocation(reserved, shortages, unknown)
