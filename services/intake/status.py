"""The order's state machine: which status may follow which.

    received ──┬──> placed ──┬──────────────────────────────────┬──> delivered ──> completed
               │      ^      ├──> backordered ──┬───────────────┤
               v      │      │                  v               │
            rejected ─┘      └──────────> awaiting_payment ─────┘
      (a correction places it, or rejects it again)

    placed, backordered, awaiting_payment ──> cancelled

``backordered`` (stock waits for goods) and ``awaiting_payment`` (payment waits for a transfer)
are the waiting states; each has the other worker's timer behind it (the backorder's expiry, the
payment deadline). Intake does not subscribe to ``stock.reserved`` or ``payment.captured`` to
leave them: the next event it hears proves the saga moved on (``payment.pending`` means the stock
was reserved; ``shipment.delivered`` means it was paid and shipped) and moves the order on from
wherever it stands. A move the table does not allow is a duplicate or a late event: it does
nothing, which is what makes every handler safe to run twice or out of order.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    RECEIVED = "received"
    PLACED = "placed"
    BACKORDERED = "backordered"
    AWAITING_PAYMENT = "awaiting_payment"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


S = OrderStatus
TERMINAL = frozenset({S.COMPLETED, S.CANCELLED, S.REJECTED})
WAITING = frozenset({S.BACKORDERED, S.AWAITING_PAYMENT})
OPEN = frozenset({S.PLACED, *WAITING})
"""Placed and not finished: what a cancellation or a delivery may still end."""

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.RECEIVED: frozenset({S.PLACED, S.REJECTED}),
    S.REJECTED: frozenset({S.PLACED, S.REJECTED}),
    S.PLACED: frozenset({S.BACKORDERED, S.AWAITING_PAYMENT, S.DELIVERED, S.CANCELLED}),
    S.BACKORDERED: frozenset({S.AWAITING_PAYMENT, S.DELIVERED, S.CANCELLED}),
    S.AWAITING_PAYMENT: frozenset({S.DELIVERED, S.CANCELLED}),
    S.DELIVERED: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}


def allowed(current: str, wanted: OrderStatus) -> bool:
    return wanted in TRANSITIONS[OrderStatus(current)]
