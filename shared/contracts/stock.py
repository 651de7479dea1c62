"""Stock's announcements."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import Message, OrderId, OrderMessage, Sku, _Frozen


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
    replaces_order: OrderId | None = Field(
        default=None,
        description="Set when the reservation is an after-sales replacement for this order: "
        "it is shipped free of charge, so payment ignores it and the warehouse packs it at once.",
    )


class StockUnavailable(OrderMessage):
    """Some lines are short and may not be backordered: nothing is reserved, intake cancels the
    order as ``out_of_stock``."""

    type: ClassVar[str] = "stock.unavailable"

    shortages: list[Shortage]
    unknown_skus: list[str] = Field(default_factory=list)


class StockCommitted(OrderMessage):
    """The reservation became a deduction of on-hand stock when the parcels left."""

    type: ClassVar[str] = "stock.committed"

    lines: list[ReservedLine]


class StockReleased(OrderMessage):
    """An order's reservation was given back to on-hand stock (``reason``: why the order did
    not go ahead)."""

    type: ClassVar[str] = "stock.released"

    reason: str


class BackorderedLine(_Frozen):
    sku: Sku
    quantity: int
    purchase_order_id: str
    expected_on: date


class StockBackordered(OrderMessage):
    """Some lines are short but may be backordered: the order waits, first come first served,
    for the goods on order; nothing is reserved until every line can be."""

    type: ClassVar[str] = "stock.backordered"

    lines: list[BackorderedLine]
    expected_on: date
    expires_on: date


class StockBackorderDue(OrderMessage):
    """Stock's own timer at a waiting order's ``expires_on``: if it still waits, it gives up."""

    type: ClassVar[str] = "stock.backorder_due"
    kind: ClassVar[Literal["timer"]] = "timer"


class StockWaitlistDue(Message):
    """Stock's own timer, due at once when stock of a SKU that orders wait for was freed
    (released, restocked, or a waiting order dropped): serve the waiting orders, oldest first."""

    type: ClassVar[str] = "stock.waitlist_due"
    kind: ClassVar[Literal["timer"]] = "timer"

    sku: Sku

    @property
    def subject(self) -> str:
        return f"sku:{self.sku}"


class StockBackorderExpired(OrderMessage):
    """The goods did not arrive in time: the waiting order gives up."""

    type: ClassVar[str] = "stock.backorder_expired"


class StockRestocked(OrderMessage):
    """Goods came back (returned to sender, or a resellable return) and are on hand again."""

    type: ClassVar[str] = "stock.restocked"

    lines: list[ReservedLine]
    reason: str


class StockReceive(Message):
    """Goods arrived at the warehouse (a purchase order, or any delivery): from warehouse
    systems or ``orderflow stock receive``."""

    type: ClassVar[str] = "stock.receive"
    kind: ClassVar[Literal["command"]] = "command"

    receipt_id: Annotated[str, Field(min_length=1, max_length=64)]
    sku: Sku
    quantity: Annotated[int, Field(gt=0, le=1_000_000)]
    purchase_order_id: str | None = None

    @property
    def subject(self) -> str:
        return f"receipt:{self.receipt_id}"


class StockReplenishmentRequested(Message):
    """On hand (plus what is already on order) fell to the reorder point: buy more."""

    type: ClassVar[str] = "stock.replenishment_requested"

    sku: Sku
    purchase_order_id: str
    quantity: int
    expected_on: date

    @property
    def subject(self) -> str:
        return f"sku:{self.sku}"


class StockItemListed(Message):
    """A SKU stock keeps, announced whenever an operator sets its level (``orderflow stock
    set``), new or not: intake keeps its catalogue from these and refuses order lines whose SKU
    was never listed. Listing a SKU again changes nothing."""

    type: ClassVar[str] = "stock.item_listed"

    sku: Sku

    @property
    def subject(self) -> str:
        return f"sku:{self.sku}"
