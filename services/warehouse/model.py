"""The warehouse's domain: one fulfilment per order, from pick list to labelled parcels.

``stock.reserved`` (the pick list) and ``payment.captured`` arrive in any order, perhaps twice,
perhaps late; the fulfilment starts once it knows both. Every change of status goes through the
state machine in ``status.py``, so a duplicate or late event changes nothing, and every status
reached is kept with its time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.contracts import FulfillmentPacked, Parcel, ParcelItem, ReservedLine
from shared.database import UtcDateTime
from shared.errors import PermanentError

from . import packing
from .packing import PackingRules
from .status import FulfillmentStatus, check_transition

S = FulfillmentStatus


class Base(DeclarativeBase):
    pass


class PickMismatch(PermanentError):
    """What was picked is not what the pick list asked for."""


class FulfillmentStep(Base):
    __tablename__ = "fulfillment_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("fulfillments.order_id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class PackedParcel(Base):
    __tablename__ = "parcels"

    parcel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("fulfillments.order_id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    items: Mapped[dict[str, int]] = mapped_column(JSON)
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
    pick_list: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    picked: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    parcels: Mapped[list[PackedParcel]] = relationship(
        order_by=PackedParcel.number, cascade="all, delete-orphan", lazy="selectin"
    )
    steps: Mapped[list[FulfillmentStep]] = relationship(
        order_by=FulfillmentStep.id, cascade="all, delete-orphan", lazy="selectin"
    )

    @classmethod
    def for_pick_list(
        cls, order_id: str, lines: Iterable[ReservedLine], now: datetime
    ) -> Fulfillment:
        fulfillment = cls.opened(order_id, S.AWAITING_PAYMENT, now)
        fulfillment.pick_list = [line.model_dump() for line in lines]
        return fulfillment

    @classmethod
    def for_payment(cls, order_id: str, now: datetime) -> Fulfillment:
        return cls.opened(order_id, S.AWAITING_PICK_LIST, now)

    @classmethod
    def opened(cls, order_id: str, status: FulfillmentStatus, now: datetime) -> Fulfillment:
        fulfillment = cls(order_id=order_id, status=status, pick_list=[], picked=[])
        fulfillment._record(status, now)
        return fulfillment

    def take_pick_list(self, lines: Iterable[ReservedLine], now: datetime) -> bool:
        """The pick list reaches a paid order; False if it is known already."""
        if self.status != S.AWAITING_PICK_LIST:
            return False
        self.pick_list = [line.model_dump() for line in lines]
        self._move_to(S.READY, now)
        return True

    def take_payment(self, now: datetime) -> bool:
        """The order is paid for; False if it was already, or its pick list is not here yet."""
        if self.status != S.AWAITING_PAYMENT:
            return False
        self._move_to(S.READY, now)
        return True

    @property
    def lines(self) -> list[ReservedLine]:
        return [ReservedLine.model_validate(line) for line in self.pick_list]

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
            {"sku": line.sku, "quantity": line.quantity, "location": line.location}
            for line in self.lines
        ]

    def verify(self, now: datetime) -> None:
        wanted, got = quantities(self.pick_list), quantities(self.picked)
        if wanted != got:
            raise PickMismatch(f"order {self.order_id}: picked {got}, wanted {wanted}")
        self._move_to(S.VERIFIED, now)

    def pack(self, rules: PackingRules, now: datetime) -> None:
        boxes = packing.pack(self.lines, rules)
        if not boxes:
            raise PermanentError(f"order {self.order_id}: nothing to pack")
        self._move_to(S.PARCELLED, now)
        self.parcels = [
            PackedParcel(parcel_id=box.parcel_id, number=number, items=box.items)
            for number, box in enumerate(boxes, start=1)
        ]

    def weigh(self, rules: PackingRules, now: datetime) -> None:
        self._move_to(S.WEIGHED, now)
        unit_grams = {line.sku: line.unit_weight_grams for line in self.lines}
        for parcel in self.parcels:
            parcel.weight_grams = packing.weigh(parcel.items, unit_grams, rules)

    def label(self, now: datetime) -> None:
        self._move_to(S.PACKED, now)
        for parcel in self.parcels:
            parcel.label_code = f"{self.order_id}-{parcel.number}/{len(self.parcels)}"

    def announcement(self) -> FulfillmentPacked:
        return FulfillmentPacked(
            order_id=self.order_id, parcels=[parcel.contract() for parcel in self.parcels]
        )

    def _move_to(self, status: FulfillmentStatus, now: datetime) -> None:
        check_transition(self.order_id, self.status, status)
        self._record(status, now)

    def _record(self, status: FulfillmentStatus, now: datetime) -> None:
        self.status = status
        self.updated_at = now
        self.steps.append(FulfillmentStep(status=status, at=now))


def quantities(lines: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Units per SKU, however the lines are split."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line["sku"]] = totals.get(line["sku"], 0) + line["quantity"]
    return totals
