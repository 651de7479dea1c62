"""The warehouse's domain: one fulfilment per order, from pick list to labelled parcels.

``stock.reserved`` (the pick list) and the payment (``payment.captured``, or ``payment.deferred``
for cash on delivery) arrive in any order, perhaps twice, perhaps late; the fulfilment starts
once it knows both. An after-sales replacement's pick list (``replaces_order`` set) is never
charged for, so it starts at once. A customer's cancel stops it before packing (packing is the
handover to the carrier) and is refused after; a cancel that comes first leaves a tombstone.
Every change of status goes through the state machine in ``status.py``, so a duplicate or late
event changes nothing, and every status reached is kept with its time in the row's step history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Protocol

from pydantic import PlainSerializer
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.contracts import (
    FulfillmentCancelled,
    FulfillmentCancelRefused,
    FulfillmentPacked,
    Message,
    Parcel,
    ParcelItem,
    ReservedLine,
)
from shared.database import TypedJson, UtcDateTime
from shared.errors import PermanentError

from . import packing
from .packing import PackingRules
from .status import FULFILLMENT_MACHINE, FulfillmentStatus, can_cancel

S = FulfillmentStatus
ALREADY_DISPATCHED = "already_dispatched"


class Base(DeclarativeBase):
    pass


class PickMismatch(PermanentError):
    """What was picked is not what the pick list asked for."""


IsoDateTime = Annotated[datetime, PlainSerializer(datetime.isoformat, when_used="json")]
"""Stored as ``datetime.isoformat`` wrote it (``+00:00``, where pydantic would write ``Z``)."""


@dataclass(frozen=True)
class Step:
    """A status the fulfilment reached, and when."""

    status: FulfillmentStatus
    at: IsoDateTime


@dataclass(frozen=True)
class PickedLine:
    """Units of a SKU taken from a location."""

    sku: str
    quantity: int
    location: str


class Counted(Protocol):
    @property
    def sku(self) -> str: ...

    @property
    def quantity(self) -> int: ...


class PackedParcel(Base):
    __tablename__ = "parcels"

    parcel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("fulfillments.order_id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    items: Mapped[dict[str, int]] = mapped_column(TypedJson(dict[str, int]))
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    label_code: Mapped[str | None] = mapped_column(String(100))

    def contract(self) -> Parcel:
        if self.weight_grams is None:
            raise RuntimeError(f"parcel {self.parcel_id} has not been weighed")
        items = [ParcelItem(sku=sku, quantity=qty) for sku, qty in self.items.items()]
        return Parcel(parcel_id=self.parcel_id, weight_grams=self.weight_grams, items=items)


class Fulfillment(Base):
    __tablename__ = "fulfillments"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    pick_list: Mapped[list[ReservedLine]] = mapped_column(
        TypedJson(list[ReservedLine]), default=list
    )
    picked: Mapped[list[PickedLine]] = mapped_column(TypedJson(list[PickedLine]), default=list)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[list[Step]] = mapped_column(TypedJson(list[Step]), default=list)
    """Every status reached, in order. One JSON list on the row rather than a row per step: a
    fulfilment's steps are only ever read with it, and a step then costs no INSERT of its own."""
    parcels: Mapped[list[PackedParcel]] = relationship(
        order_by=PackedParcel.number, cascade="all, delete-orphan", lazy="selectin"
    )

    @classmethod
    def for_pick_list(
        cls, order_id: str, lines: Iterable[ReservedLine], now: datetime
    ) -> Fulfillment:
        fulfillment = cls.opened(order_id, S.AWAITING_PAYMENT, now)
        fulfillment.pick_list = list(lines)
        return fulfillment

    @classmethod
    def for_replacement(
        cls, order_id: str, lines: Iterable[ReservedLine], now: datetime
    ) -> Fulfillment:
        """An after-sales replacement's pick list: nothing is charged for it, so it is ready."""
        fulfillment = cls.opened(order_id, S.READY, now)
        fulfillment.pick_list = list(lines)
        return fulfillment

    @classmethod
    def for_payment(cls, order_id: str, now: datetime) -> Fulfillment:
        return cls.opened(order_id, S.AWAITING_PICK_LIST, now)

    @classmethod
    def tombstone(cls, order_id: str, reason: str, now: datetime) -> Fulfillment:
        """An order cancelled before anything of it reached the warehouse: a pick list or a
        payment that arrives later finds it closed."""
        fulfillment = cls.opened(order_id, S.CANCELLED, now)
        fulfillment.cancel_reason = reason
        return fulfillment

    @classmethod
    def opened(cls, order_id: str, status: FulfillmentStatus, now: datetime) -> Fulfillment:
        FULFILLMENT_MACHINE.check_start(f"fulfilment {order_id}", status)
        fulfillment = cls(order_id=order_id, status=status, pick_list=[], picked=[], steps=[])
        fulfillment._record(status, now)
        return fulfillment

    def take_pick_list(self, lines: Iterable[ReservedLine], now: datetime) -> bool:
        """The pick list reaches a paid order; False if it is known already."""
        if self.status != S.AWAITING_PICK_LIST:
            return False
        self.pick_list = list(lines)
        self._move_to(S.READY, now)
        return True

    def take_payment(self, now: datetime) -> bool:
        """The order is paid for; False if it was already, or its pick list is not here yet."""
        if self.status != S.AWAITING_PAYMENT:
            return False
        self._move_to(S.READY, now)
        return True

    def cancel(self, reason: str, now: datetime) -> list[Message]:
        """A customer's cancel: intercepted before packing; refused once packed, as the parcels
        are with the carrier (a return is offered instead); nothing if cancelled already."""
        if self.status == S.PACKED:
            refused = FulfillmentCancelRefused(
                order_id=self.order_id, reason=ALREADY_DISPATCHED, return_offered=True
            )
            return [refused]
        if not self.close(reason, now):
            return []
        return [FulfillmentCancelled(order_id=self.order_id, reason=reason)]

    def close(self, reason: str, now: datetime) -> bool:
        """Stop before packing; False if packed or cancelled already."""
        if not can_cancel(self.status):
            return False
        self._move_to(S.CANCELLED, now)
        self.cancel_reason = reason
        return True

    def fulfil(self, rules: PackingRules, now: datetime) -> FulfillmentPacked:
        """Every step at once, from a ready order to labelled parcels."""
        self.pick(now)
        self.verify(now)
        self.pack(rules, now)
        self.weigh(rules, now)
        self.label(now)
        return self.announcement()

    def pick(self, now: datetime) -> None:
        self._move_to(S.PICKED, now)
        self.picked = [
            PickedLine(line.sku, line.quantity, line.location) for line in self.pick_list
        ]

    def verify(self, now: datetime) -> None:
        wanted, got = quantities(self.pick_list), quantities(self.picked)
        if wanted != got:
            raise PickMismatch(f"order {self.order_id}: picked {got}, wanted {wanted}")
        self._move_to(S.VERIFIED, now)

    def pack(self, rules: PackingRules, now: datetime) -> None:
        boxes = packing.pack(self.pick_list, rules)
        if not boxes:
            raise PermanentError(f"order {self.order_id}: nothing to pack")
        self._move_to(S.PARCELLED, now)
        self.parcels = [
            PackedParcel(parcel_id=box.parcel_id, number=number, items=box.items)
            for number, box in enumerate(boxes, start=1)
        ]

    def weigh(self, rules: PackingRules, now: datetime) -> None:
        self._move_to(S.WEIGHED, now)
        unit_grams = {line.sku: line.unit_weight_grams for line in self.pick_list}
        for parcel in self.parcels:
            parcel.weight_grams = packing.weigh(parcel.items, unit_grams, rules)

    def label(self, now: datetime) -> None:
        self._move_to(S.PACKED, now)
        for parcel in self.parcels:
            parcel.label_code = f"{self.order_id}-{parcel.number}/{len(self.parcels)}"

    @property
    def ready_at(self) -> datetime | None:
        """When the order became ready to pick (paid for and its pick list here), if it did:
        what puts it in a wave of printed pick lists."""
        return next((step.at for step in self.steps if step.status == S.READY), None)

    def announcement(self) -> FulfillmentPacked:
        return FulfillmentPacked(
            order_id=self.order_id, parcels=[parcel.contract() for parcel in self.parcels]
        )

    def _move_to(self, status: FulfillmentStatus, now: datetime) -> None:
        FULFILLMENT_MACHINE.check(f"fulfilment {self.order_id}", self.status, status)
        self._record(status, now)

    def _record(self, status: FulfillmentStatus, now: datetime) -> None:
        self.status = status
        self.updated_at = now
        # a new list, not an append: the ORM sees a JSON column change only when it is assigned
        self.steps = [*self.steps, Step(status, now)]


def quantities(lines: Iterable[Counted]) -> dict[str, int]:
    """Units per SKU, however the lines are split."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return totals
