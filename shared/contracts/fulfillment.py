"""The warehouse's announcements."""

from __future__ import annotations

from typing import Annotated, ClassVar

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
    type: ClassVar[str] = "fulfillment.packed"

    parcels: Annotated[list[Parcel], Field(min_length=1)]

    @property
    def weight_grams(self) -> int:
        return sum(parcel.weight_grams for parcel in self.parcels)
