"""Intake's handlers for order review: a reviewer's decision, and the review timer's.

Whichever comes first decides; the order's state makes the other a no-op (an order no longer
held announces nothing). Approving announces ``order.approved``, which lets payment charge;
rejecting cancels the order with ``review_rejected``, and ``order.cancelled`` sets off the usual
compensations: stock releases the reservation, payment leaves a tombstone (it never charged a
held order), the notifier tells the customer.
"""

from __future__ import annotations

from datetime import datetime

from shared.clock import Clock
from shared.contracts import (
    CancelReason,
    Message,
    OrderCancelled,
    OrderReview,
    OrderReviewDue,
    ReviewDecision,
)

from .model import Order
from .review import Review
from .store import IntakeUnitOfWork


def on_order_review(command: OrderReview, uow: IntakeUnitOfWork, clock: Clock) -> list[Message]:
    order = uow.orders.lock(command.order_id)
    if order is None:
        return []
    return decide(order, command.decision, command.reviewer, command.reason, clock.now())


def on_order_review_due(
    timer: OrderReviewDue, uow: IntakeUnitOfWork, clock: Clock, review: Review
) -> list[Message]:
    """Nobody decided in time: the settings' decision (``review_timeout_decision``)."""
    order = uow.orders.lock(timer.order_id)
    if order is None:
        return []
    hours = review.timeout.total_seconds() / 3600
    reason = f"not reviewed within {hours:g} hours"
    return decide(order, review.on_timeout, "", reason, clock.now())


def decide(
    order: Order, decision: ReviewDecision, reviewer: str, reason: str, now: datetime
) -> list[Message]:
    if decision == ReviewDecision.APPROVE:
        return [*order.approve(reviewer, reason, now)]
    if not order.reject_held(reviewer, reason, now):
        return []
    return [
        OrderCancelled(
            order_id=order.id,
            reason=CancelReason.REVIEW_REJECTED,
            detail=reason,
            channel=order.channel,
        )
    ]
