"""Order review: an order a rule holds waits for a person (or its review timer) to decide.

Intake judges a submission against the review rules when it places the order. A held order is
placed as any other (``order.placed`` with ``held_for_review``), so stock reserves its goods and
the channel has its answer, but payment charges nothing until intake announces
``order.approved``. A reject cancels it (``order.cancelled``, reason ``review_rejected``) through
the usual compensations: stock releases, payment leaves a tombstone, the customer is told.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import OrderMessage, _Frozen
from .orders import OrderChannel


class ReviewRule(StrEnum):
    """Which of intake's review rules held the order."""

    AMOUNT = "amount"
    UNITS_OF_ONE_SKU = "units_of_one_sku"
    CASH_ON_DELIVERY = "cash_on_delivery"
    COUNTRY_MISMATCH = "country_mismatch"


class ReviewReason(_Frozen):
    """One rule that held the order, and what in the order tripped it, for the reviewer."""

    rule: ReviewRule
    message: str


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class OrderHeld(OrderMessage):
    """A rule held the placed order for review: nothing is charged until it is approved; a
    reject, or no decision by ``review_due`` (then as intake's settings say), decides it."""

    type: ClassVar[str] = "order.held"

    reasons: Annotated[list[ReviewReason], Field(min_length=1)]
    review_due: datetime = Field(description="When intake's review timer decides on its own.")
    channel: OrderChannel = None


class OrderApproved(OrderMessage):
    """A held order was approved: payment charges it now and the saga goes on."""

    type: ClassVar[str] = "order.approved"

    reviewer: Annotated[
        str, Field(description="Who approved it; empty when the review timer did.")
    ] = ""
    reason: str = Field(default="", description="The reviewer's note, or why the timer did.")
    channel: OrderChannel = None


class OrderReview(OrderMessage):
    """A reviewer decides on a held order; intake acts if it is still held."""

    type: ClassVar[str] = "order.review"
    kind: ClassVar[Literal["command"]] = "command"

    decision: ReviewDecision
    reviewer: Annotated[str, Field(min_length=1, max_length=100)]
    reason: Annotated[str, Field(max_length=500)] = ""


class OrderReviewDue(OrderMessage):
    """Intake's timer: a held order's review time is up."""

    type: ClassVar[str] = "order.review_due"
    kind: ClassVar[Literal["timer"]] = "timer"
