"""Stock's announcements."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .base import OrderMessage, Sku, _Frozen


class ReservedLine(_Frozen):
    sku: Sku
    quantity: int
    location: str
    unit_weight_grams: int


class Shortage(_Frozen):
    sku: Sku
    requested: int
    available: int


class StockReserved(OrderMessage):
    """Every line is reserved; the warehouse keeps the pick list from here."""

    type: ClassVar[str] = "stock.reserved"

    lines: list[ReservedLine]


class StockUnavailable(OrderMessage):
    type: ClassVar[str] = "stock.unavailable"

    shortages: list[Shortage]
    unknown_skus: list[str] = Field(default_factory=list)


class StockCommitted(OrderMessage):
    """The reservation became a deduction of on-hand stock when the parcels left."""

    type: ClassVar[str] = "stock.committed"

    lines: list[ReservedLine]


class StockReleased(OrderMessage):
    type: ClassVar[str] = "stock.released"

    reason: str
