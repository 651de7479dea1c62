"""A physical stock count (a stock take before a sale event) and what it changed in stock's
books: ``orderflow stock count FILE.csv`` sends ``stock.count``; stock applies it in one
transaction, announces ``stock.adjusted`` for every SKU whose on-hand count changed and
answers with ``stock.counted``, the discrepancy report."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field, field_validator

from .base import Message, OrderId, Sku, _Frozen

CountId = Annotated[str, Field(min_length=1, max_length=64)]


class AdjustmentReason(StrEnum):
    """Why on-hand stock differs from the books: more on the shelf (``found``), fewer
    (``lost``, the default), or fewer because units were written off as ``damaged``."""

    FOUND = "found"
    LOST = "lost"
    DAMAGED = "damaged"


class CountedSku(_Frozen):
    """One SKU as counted on the shelf."""

    sku: Sku
    counted: Annotated[int, Field(ge=0, le=1_000_000, description="Sellable units on the shelf.")]
    location: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="Where the SKU was counted; becomes its bin location."
    )
    reason: Literal["lost", "damaged"] | None = Field(
        default=None,
        description="Why units are missing if the count is below the books: lost (the default) "
        "or damaged. A count above the books is always found.",
    )
    counted_at: AwareDatetime | None = Field(
        default=None,
        description="When the shelf was counted: it is compared with the books as they stood "
        "then, so what was packed, dispatched or received since does not show as a difference. "
        "None compares it with the books as stock finds them when it applies the count.",
    )


class StockCount(Message):
    """A physical count to reconcile with stock's books, from ``orderflow stock count``. A
    repeated ``count_id`` changes nothing."""

    type: ClassVar[str] = "stock.count"
    kind: ClassVar[Literal["command"]] = "command"

    count_id: CountId
    lines: Annotated[list[CountedSku], Field(min_length=1, max_length=10_000)]

    @field_validator("lines")
    @classmethod
    def _each_sku_once(cls, lines: list[CountedSku]) -> list[CountedSku]:
        skus = [line.sku for line in lines]
        twice = sorted({sku for sku in skus if skus.count(sku) > 1})
        if twice:
            raise ValueError(f"each SKU is counted once; counted twice: {', '.join(twice)}")
        return lines

    @property
    def subject(self) -> str:
        return f"count:{self.count_id}"


class StockAdjusted(Message):
    """A SKU's on-hand stock changed to what a count found on the shelf; ``quantity`` is the
    change (negative when units were lost or damaged), ``on_hand`` the new level."""

    type: ClassVar[str] = "stock.adjusted"

    sku: Sku
    count_id: CountId
    quantity: int
    on_hand: int
    reason: AdjustmentReason

    @property
    def subject(self) -> str:
        return f"sku:{self.sku}"


class CountedLine(_Frozen):
    """A counted SKU against the books: ``difference`` = ``counted`` - (``books`` -
    ``in_parcels``), what was on the shelf less what the books put there."""

    sku: Sku
    books: int = Field(
        description="On hand by the books when the shelf was counted, parcels not yet "
        "dispatched included."
    )
    in_parcels: int = Field(
        default=0,
        description="Units packed into parcels not yet dispatched when the shelf was counted: "
        "on hand, but off the shelf.",
    )
    counted: int
    difference: int
    reason: AdjustmentReason | None = None
    counted_at: AwareDatetime | None = Field(
        default=None, description="When the shelf was counted: the moment books are taken at."
    )


class StockCounted(Message):
    """A count was applied: every counted SKU against the books, and the orders whose
    reservation no longer fit what is on the shelf (each announced ``stock.unavailable``)."""

    type: ClassVar[str] = "stock.counted"

    count_id: CountId
    lines: list[CountedLine]
    short_orders: list[OrderId] = Field(default_factory=list)

    @property
    def subject(self) -> str:
        return f"count:{self.count_id}"
