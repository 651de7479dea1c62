"""After-sales: returns, exchanges and resends, from the customer's request to the last parcel.

Every request after delivery opens a *case*, numbered per order: ``<order id>.<n>``. For a
return or an exchange the case id is the RMA number the customer writes on the parcel. A
replacement (an exchange's new goods, a resend of missing items) goes through stock, the
warehouse and shipping as an order of its own whose id is the case id; ``replaces_order`` names
the order it belongs to, and nothing is ever charged for it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import Money, OrderId, OrderMessage, Sku, _Frozen
from .orders import Customer, Delivery

Reason = Annotated[str, Field(min_length=1, max_length=500)]
RequestId = Annotated[str, Field(min_length=1, max_length=64)]


class Resolution(StrEnum):
    """What the customer gets for goods sent back."""

    REFUND = "refund"
    EXCHANGE = "exchange"


class CaseOutcome(StrEnum):
    REFUNDED = "refunded"
    """The goods came back and were refunded (in full or in part, by inspection)."""
    EXCHANGED = "exchanged"
    """The replacement was delivered."""
    RESENT = "resent"
    """The missing items were delivered."""
    REFUNDED_INSTEAD = "refunded_instead"
    """A replacement could not be reserved or delivered: its value was refunded instead."""
    EXPIRED = "expired"
    """The goods of an RMA never arrived in time; nothing was refunded."""


class ItemQuantity(_Frozen):
    sku: Sku
    quantity: Annotated[int, Field(gt=0, le=10_000)]


class InspectedLine(_Frozen):
    """What came back of one SKU, as inspected: resellable goods go back into stock."""

    sku: Sku
    resellable: Annotated[int, Field(ge=0, le=10_000)] = 0
    damaged: Annotated[int, Field(ge=0, le=10_000)] = 0

    @property
    def quantity(self) -> int:
        return self.resellable + self.damaged


# -- requests: customer service, a channel's returns portal, warehouse systems ------------------


class ReturnRequest(OrderMessage):
    """The customer wants to send goods back, for a refund or an exchange (like for like)."""

    type: ClassVar[str] = "return.request"
    kind: ClassVar[Literal["command"]] = "command"

    request_id: RequestId
    resolution: Resolution = Resolution.REFUND
    lines: Annotated[list[ItemQuantity], Field(min_length=1, max_length=200)]
    reason: Reason


class ResendRequest(OrderMessage):
    """A complaint: items missing from the delivery are sent again, free of charge."""

    type: ClassVar[str] = "resend.request"
    kind: ClassVar[Literal["command"]] = "command"

    request_id: RequestId
    lines: Annotated[list[ItemQuantity], Field(min_length=1, max_length=200)]
    reason: Reason


class ReturnReceive(OrderMessage):
    """The returned parcel of an RMA arrived and was inspected (warehouse systems, or
    ``orderflow return receive``)."""

    type: ClassVar[str] = "return.receive"
    kind: ClassVar[Literal["command"]] = "command"

    rma: Annotated[str, Field(min_length=1, max_length=80)]
    lines: Annotated[list[InspectedLine], Field(min_length=1, max_length=200)]


# -- after-sales' announcements ---------------------------------------------------------------


class ReturnAuthorized(OrderMessage):
    """An RMA: the customer may send these goods back until ``send_by``."""

    type: ClassVar[str] = "return.authorized"

    rma: str
    request_id: str
    resolution: Resolution
    lines: list[ItemQuantity]
    reason: str
    send_by: datetime


class AftersalesRequestRefused(OrderMessage):
    """A return, exchange or resend that is not allowed; ``reason`` is a code, ``detail`` says
    why in words."""

    type: ClassVar[str] = "aftersales.request_refused"

    request_id: str
    request: Literal["return", "exchange", "resend"]
    reason: str
    detail: str


class ReturnReceived(OrderMessage):
    """The goods of an RMA came back: stock takes the resellable ones; ``refund`` is what the
    customer gets back for them (none for an exchange)."""

    type: ClassVar[str] = "return.received"

    rma: str
    resolution: Resolution
    lines: list[InspectedLine]
    refund: Money | None = None


class ReturnExpired(OrderMessage):
    """Nothing came back for an RMA by its ``send_by``: the case is closed, nothing refunded."""

    type: ClassVar[str] = "return.expired"

    rma: str


class ReturnDue(OrderMessage):
    """After-sales' timer at an RMA's ``send_by``."""

    type: ClassVar[str] = "return.due"
    kind: ClassVar[Literal["timer"]] = "timer"

    rma: str


class ReplacementRequested(OrderMessage):
    """Goods go out again for a case, free of charge: ``order_id`` is the case id, under which
    stock reserves, the warehouse packs and shipping books them like any order."""

    type: ClassVar[str] = "replacement.requested"

    replaces_order: OrderId
    request: Literal["exchange", "resend"]
    lines: list[ItemQuantity]
    customer: Customer
    delivery: Delivery
    reason: str


class RefundRequested(OrderMessage):
    """After-sales asks payment to give money back for a case, once per case."""

    type: ClassVar[str] = "refund.requested"

    case_id: str
    amount: Money
    reason: str


class AftersalesCaseClosed(OrderMessage):
    """A case ended; ``fully_returned`` once the order's refunds add up to its whole total."""

    type: ClassVar[str] = "aftersales.case_closed"

    case_id: str
    outcome: CaseOutcome
    refunded: Money | None = None
    fully_returned: bool = False


def case_id_for(order_id: str, number: int) -> str:
    """The ``number``-th case of an order: its RMA number, and its replacement's order id."""
    return f"{order_id}.{number}"


def original_order(order_id: str) -> str:
    """The order an id belongs to: itself, or the order a case (replacement) id was opened on."""
    return order_id.split(".", 1)[0]
