"""The warehouse's announcements."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import OrderMessage, Sku, _Frozen


class ParcelItem(_Frozen):
    sku: Sku
    quantity: int


class Parcel(_Frozen):
    parcel_id: str
    weight_grams: Annotated[int, Field(gt=0)]
    items: list[ParcelItem]


class FulfillmentPacked(OrderMessage):
    """The warehouse picked and packed the order: its parcels, with contents and weights, go to
    shipping."""

    type: ClassVar[str] = "fulfillment.packed"

    parcels: Annotated[list[Parcel], Field(min_length=1)]

    @property
    def weight_grams(self) -> int:
        return sum(parcel.weight_grams for parcel in self.parcels)


class FulfillmentCancelled(OrderMessage):
    """The warehouse stopped the order before it left (or will ignore it when it arrives)."""

    type: ClassVar[str] = "fulfillment.cancelled"

    reason: str


class FulfillmentCancelRefused(OrderMessage):
    """Too late: the parcels are with the carrier. The customer is offered a return instead."""

    type: ClassVar[str] = "fulfillment.cancel_refused"

    reason: str
    return_offered: bool = True


class FulfillmentPackingDue(OrderMessage):
    """The warehouse's timer: picking and packing a ready order takes this long."""

    type: ClassVar[str] = "fulfillment.packing_due"
    kind: ClassVar[Literal["timer"]] = "timer"
