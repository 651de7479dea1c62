"""What stock waits for and what it gets: the queue of waiting orders, purchase orders to
suppliers, goods receipts, customers' returns, and physical counts of the shelves."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.contracts import CountedLine, StockCounted
from shared.database import TypedJson, UtcDateTime

from .model import Base, Item


class Backorder(Base):
    """One line of a waiting order: the queue, read by SKU, oldest first. The rows live while
    the order waits; its reservation row is what a batch locks to change it."""

    __tablename__ = "backorders"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_on: Mapped[date] = mapped_column(Date)
    purchase_order_id: Mapped[str | None] = mapped_column(String(64))
    expected_on: Mapped[date | None] = mapped_column(Date)


def new_purchase_order_id() -> str:
    return f"po_{uuid.uuid4().hex[:12]}"


class PurchaseOrderStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("items.sku"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer)
    expected_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @classmethod
    def place(
        cls, purchase_order_id: str, item: Item, quantity: int, today: date, at: datetime
    ) -> PurchaseOrder:
        """Buy ``quantity`` of ``item`` from its supplier, expected after its lead time."""
        item.on_order += quantity
        return cls(
            id=purchase_order_id,
            sku=item.sku,
            quantity=quantity,
            received=0,
            expected_on=today + timedelta(days=item.lead_time_days),
            status=PurchaseOrderStatus.OPEN,
            created_at=at,
        )

    @property
    def outstanding(self) -> int:
        if self.status != PurchaseOrderStatus.OPEN:
            return 0
        return max(self.quantity - self.received, 0)

    def receive(self, quantity: int, item: Item) -> int:
        """Book up to ``quantity`` against what is still to come; returns how much it took."""
        taken = min(quantity, self.outstanding)
        self.received += taken
        item.on_order -= taken
        if self.outstanding == 0:
            self.status = PurchaseOrderStatus.CLOSED
        return taken


class Receipt(Base):
    """A goods receipt, recorded once: a repeated ``receipt_id`` changes nothing."""

    __tablename__ = "receipts"

    receipt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    purchase_order_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReturnReceipt(Base):
    """The goods of an RMA that came back, recorded once: a repeated ``return.received``
    changes nothing. ``lines`` are the resellable units per SKU that went back on hand (none
    if everything came back damaged); ``order_id`` is the order they were sold with."""

    __tablename__ = "return_receipts"

    rma: Mapped[str] = mapped_column(String(80), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    lines: Mapped[dict[str, int]] = mapped_column(TypedJson(dict[str, int]))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CountRecord(Base):
    """A count, applied once: its report, kept for ``orderflow stock count`` to show again."""

    __tablename__ = "counts"

    count_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lines: Mapped[list[CountedLine]] = mapped_column(TypedJson(list[CountedLine]))
    short_orders: Mapped[list[str]] = mapped_column(TypedJson(list[str]))
    counted_at: Mapped[datetime] = mapped_column(UtcDateTime())

    def announcement(self) -> StockCounted:
        return StockCounted(
            count_id=self.count_id, lines=self.lines, short_orders=self.short_orders
        )
