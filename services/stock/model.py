"""Stock's domain: items on hand, reservations per order and a ledger of every movement (the
queue of waiting orders, purchase orders and goods receipts are in ``supply``).

Per SKU, the item row holds the numbers every rule reads: ``on_hand`` (the sum of its ledger),
``reserved`` (the sum of open reservations), ``backordered`` (what waiting orders claim, first
come first served) and ``on_order`` (what open purchase orders still bring). A reservation row is
an order's state here, waiting or not, and the row a batch locks to change it. A reserved order
whose parcels are packed (``packed_at``) holds units that are off the shelf but on hand until
the parcels are dispatched: what a count must not find on the shelf.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import ReservedLine
from shared.database import TypedJson, UtcDateTime
from shared.states import StateMachine

Items = Mapping[str, "Item"]


class Base(DeclarativeBase):
    pass


class Movement(StrEnum):
    """Why on-hand stock moved. A stock take (``orderflow stock set``) is ``adjusted``; a count
    (``stock.count``) says why it differs from the books: ``found``, ``lost`` or ``damaged``."""

    ADJUSTED = "adjusted"
    RECEIVED = "received"
    COMMITTED = "committed"
    RESTOCKED = "restocked"
    FOUND = "found"
    LOST = "lost"
    DAMAGED = "damaged"


class ReservationStatus(StrEnum):
    """An order as stock sees it. It starts ``reserved`` (every line fitted), ``backordered``
    (it waits for goods), ``unavailable`` (short, and may not wait) or ``cancelled`` (a
    tombstone: the order was cancelled before stock heard of it)::

        backordered ──> reserved ──> committed ──> restocked
             │             │
             ├─> expired   └─> released
             └─> cancelled
    """

    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    BACKORDERED = "backordered"
    COMMITTED = "committed"
    RELEASED = "released"
    RESTOCKED = "restocked"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


R = ReservationStatus
RESERVATION_MACHINE = StateMachine(
    ReservationStatus,
    {
        R.BACKORDERED: {R.RESERVED, R.EXPIRED, R.CANCELLED},
        R.RESERVED: {R.COMMITTED, R.RELEASED},
        R.COMMITTED: {R.RESTOCKED},
    },
    initial={R.RESERVED, R.BACKORDERED, R.UNAVAILABLE, R.CANCELLED},
    terminal={R.UNAVAILABLE, R.RELEASED, R.RESTOCKED, R.EXPIRED, R.CANCELLED},
)


class Item(Base):
    __tablename__ = "items"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer)
    backordered: Mapped[int] = mapped_column(Integer, default=0)
    on_order: Mapped[int] = mapped_column(Integer, default=0)
    location: Mapped[str] = mapped_column(String(32), default="A-01-01")
    weight_grams: Mapped[int] = mapped_column(Integer, default=500)
    backorder_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    reorder_point: Mapped[int] = mapped_column(Integer, default=0)
    reorder_quantity: Mapped[int] = mapped_column(Integer, default=0)
    lead_time_days: Mapped[int] = mapped_column(Integer, default=7)

    _DEFAULTS: ClassVar[Mapping[str, Any]] = {
        "reserved": 0,
        "backordered": 0,
        "on_order": 0,
        "location": "A-01-01",
        "weight_grams": 500,
        "backorder_allowed": False,
        "reorder_point": 0,
        "reorder_quantity": 0,
        "lead_time_days": 7,
    }

    def __init__(self, **fields: Any) -> None:
        """A new item has its defaults in memory too, before the first flush."""
        super().__init__(**{**self._DEFAULTS, **fields})

    @property
    def available(self) -> int:
        """What a new order may take: on hand, less what is reserved and what earlier orders
        that wait were promised."""
        return self.on_hand - self.reserved - self.backordered

    @property
    def position(self) -> int:
        """Available now plus what open purchase orders still bring."""
        return self.available + self.on_order

    def move(
        self, movement: Movement, quantity: int, order_id: str | None, at: datetime
    ) -> LedgerEntry:
        """Change on-hand stock; the entry says why and must be stored with it."""
        self.on_hand += quantity
        return LedgerEntry(
            sku=self.sku, movement=movement, quantity=quantity, order_id=order_id, at=at
        )

    def purchase_needed(self) -> int:
        """How much to buy now: enough that waiting orders are covered and, with a reorder
        point, that the position rises above it; in whole reorder quantities when one is set."""
        target = self.reorder_point + 1 if self.reorder_point > 0 else 0
        short = target - self.position
        if short <= 0:
            return 0
        batch = self.reorder_quantity
        return -(-short // batch) * batch if batch > 0 else short

    def line(self, quantity: int) -> ReservedLine:
        return ReservedLine(
            sku=self.sku,
            quantity=quantity,
            location=self.location,
            unit_weight_grams=self.weight_grams,
        )


class LedgerEntry(Base):
    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("items.sku"), index=True)
    movement: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class Reservation(Base):
    """An order as stock sees it. ``lines`` are what it holds (reserved, committed) or, while it
    waits (backordered), what it wants. Every change of status goes through a method here."""

    __tablename__ = "reservations"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    lines: Mapped[list[ReservedLine]] = mapped_column(TypedJson(list[ReservedLine]))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    packed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)

    @classmethod
    def of(
        cls, order_id: str, status: ReservationStatus, lines: list[ReservedLine], at: datetime
    ) -> Reservation:
        RESERVATION_MACHINE.check_start(f"reservation {order_id}", status)
        return cls(
            order_id=order_id,
            status=status,
            lines=lines,
            updated_at=at,
        )

    @property
    def wanted(self) -> dict[str, int]:
        return {line.sku: line.quantity for line in self.lines}

    @property
    def in_parcels(self) -> bool:
        """Reserved, and packed into parcels that have not left: its units are off the shelf."""
        return self.status == ReservationStatus.RESERVED and self.packed_at is not None

    def pack(self, at: datetime) -> bool:
        """The warehouse packed the order's goods; False if it is not reserved (dispatched,
        returned or released already) or was packed already."""
        if self.status != ReservationStatus.RESERVED or self.packed_at is not None:
            return False
        self.packed_at = at
        return True

    @classmethod
    def reserve(
        cls, order_id: str, lines: list[ReservedLine], items: Items, at: datetime
    ) -> Reservation:
        """A new order whose every line fits: all of it is reserved."""
        reservation = cls.of(order_id, ReservationStatus.RESERVED, lines, at)
        for line in lines:
            items[line.sku].reserved += line.quantity
        return reservation

    @classmethod
    def wait(
        cls, order_id: str, lines: list[ReservedLine], items: Items, at: datetime
    ) -> Reservation:
        """A new order that waits for goods: its lines are claimed ahead of later orders (first
        come, first served), but nothing is reserved until every line fits."""
        reservation = cls.of(order_id, ReservationStatus.BACKORDERED, lines, at)
        for line in lines:
            items[line.sku].backordered += line.quantity
        return reservation

    def serve(self, items: Items, at: datetime) -> list[ReservedLine]:
        """A waiting order's goods came: its claims become a reservation."""
        lines = [items[line.sku].line(line.quantity) for line in self.lines]
        self._become(ReservationStatus.RESERVED, at, lines)
        for line in lines:
            items[line.sku].backordered -= line.quantity
            items[line.sku].reserved += line.quantity
        return lines

    def release(self, items: Items, at: datetime) -> bool:
        """Give back what a reserved order holds, or drop a waiting order's claims."""
        if RESERVATION_MACHINE.can(self.status, ReservationStatus.RELEASED):
            for line in self.lines:
                items[line.sku].reserved -= line.quantity
            self._become(ReservationStatus.RELEASED, at)
            return True
        return self._drop(items, ReservationStatus.CANCELLED, at)

    def expire(self, items: Items, at: datetime) -> bool:
        """A waiting order gives up: its claims are dropped."""
        return self._drop(items, ReservationStatus.EXPIRED, at)

    def commit(self, items: Items, at: datetime) -> list[LedgerEntry] | None:
        """The goods left: a reservation becomes a deduction of on-hand stock."""
        if not RESERVATION_MACHINE.can(self.status, ReservationStatus.COMMITTED):
            return None
        entries = []
        for line in self.lines:
            items[line.sku].reserved -= line.quantity
            entries.append(
                items[line.sku].move(Movement.COMMITTED, -line.quantity, self.order_id, at)
            )
        self._become(ReservationStatus.COMMITTED, at)
        return entries

    def restock(self, items: Items, at: datetime) -> list[LedgerEntry] | None:
        """The goods came back and are on the shelf again. If their dispatch was not seen yet,
        the reservation is committed first, so the ledger tells both movements."""
        committed = self.commit(items, at) or []
        if not RESERVATION_MACHINE.can(self.status, ReservationStatus.RESTOCKED):
            return None
        restocked = [
            items[line.sku].move(Movement.RESTOCKED, line.quantity, self.order_id, at)
            for line in self.lines
        ]
        self._become(ReservationStatus.RESTOCKED, at)
        return committed + restocked

    def _drop(self, items: Items, status: ReservationStatus, at: datetime) -> bool:
        if not RESERVATION_MACHINE.can(self.status, status):
            return False
        for line in self.lines:
            items[line.sku].backordered -= line.quantity
        self._become(status, at)
        return True

    def _become(
        self, status: ReservationStatus, at: datetime, lines: list[ReservedLine] | None = None
    ) -> None:
        RESERVATION_MACHINE.check(f"reservation {self.order_id}", self.status, status)
        self.status = status
        self.updated_at = at
        if lines is not None:
            self.lines = lines
