"""Stories of order review: an order billed in one country and shipped to another is held for a
person; approved, it is charged and goes on; rejected, or not reviewed within two days (the
review timer then rejects it, as the terms say), it is cancelled with nothing charged and its
stock released."""

from __future__ import annotations

from typing import Any

from shared.contracts import OrderReview, ReviewDecision

from .orders import card_order
from .placing import CANCELLED_UNPAID
from .story import SHIPPED, Ending, Story, told
from .terms import HOUR
from .world import Commands, Move, announced

REVIEWER = "rita"


def billed_abroad(external_id: str, name: str, sku: str) -> dict[str, Any]:
    """A card order shipped to Germany and billed in France: the country rule holds it."""
    return {**card_order(external_id, name, sku), "billing_country": "FR"}


def review(decision: ReviewDecision, reason: str = "") -> Commands:
    return lambda snap, _: [
        OrderReview(order_id=snap.order.id, decision=decision, reviewer=REVIEWER, reason=reason)
    ]


REJECTED_IN_REVIEW = Ending(
    "cancelled", "review_rejected", ("order.held", "stock.released"), CANCELLED_UNPAID
)

STORIES = [
    Story(
        billed_abroad("WEB-1201", "Katherine Johnson", "MUG-BLUE"),
        "billed in France, shipped to Germany: held for review; approved an hour later, only "
        "then is the card charged",
        Ending(
            "completed",
            announces=("order.held", "order.approved", "payment.captured", "order.completed"),
            told=told(*SHIPPED),
        ),
        (
            Move(
                "reviewer",
                "approves the held order",
                announced("order.held"),
                HOUR,
                review(ReviewDecision.APPROVE),
            ),
        ),
    ),
    Story(
        billed_abroad("WEB-1202", "Frank Abagnale", "TEA-GREEN"),
        "billed in France, shipped to Germany: held; the reviewer rejects it, so it is cancelled "
        "with nothing charged and its stock released",
        REJECTED_IN_REVIEW,
        (
            Move(
                "reviewer",
                "rejects the held order",
                announced("order.held"),
                HOUR,
                review(ReviewDecision.REJECT, "card reported stolen"),
            ),
        ),
    ),
    Story(
        billed_abroad("WEB-1203", "Hedy Lamarr", "BEANS-DARK"),
        "held for review and never reviewed: after two days the review timer rejects it",
        REJECTED_IN_REVIEW,
    ),
]
