"""The order's state machine: which status may follow which.

    received ──┬──> placed ──┬──────────────────────────────────┬──> delivered ──┬──> completed
               │      ^      ├──> backordered ──┬───────────────┤      │    ^    ├──> returned
               v      │      │                  v               │      v    │    │
            rejected ─┘      └──────────> awaiting_payment ─────┘   in_aftersales ─┘
      (a correction places it, or rejects it again)
                               (down: a case opens; up: the last one closes early)

    placed, backordered, awaiting_payment, held ──> cancelled

    received, rejected ──> held ──> placed          (a review rule held it; approved)

``backordered`` (stock waits for goods), ``awaiting_payment`` (payment waits for a transfer) and
``in_aftersales`` (after-sales cases are open) are the waiting states; each has a timer behind
it: another worker's for the first two (the backorder's expiry, the payment deadline); for
``in_aftersales``, the order's own completion timer or its cases' (a return's deadline, the
replacement's parcel). Intake does not subscribe to ``stock.reserved`` or ``payment.captured`` to
leave them: the next event it hears proves the saga moved on (``payment.pending`` means the stock
was reserved; ``shipment.delivered`` means it was paid and shipped) and moves the order on from
wherever it stands. A move the table does not allow is a duplicate or a late event: it does
nothing, which is what makes every handler safe to run twice or out of order.

``held`` is the review's waiting state: a review rule held the order when intake placed it (it
announced ``order.placed`` with ``held_for_review``, and ``order.held``), so stock reserves its
goods but payment charges nothing. A reviewer's ``order.review``, or intake's own review timer
(``order.review_due``), decides: approved, it goes on as ``placed`` (``order.approved`` lets
payment start); rejected, it is ``cancelled`` (``review_rejected``). Stock's ``backordered``
does not move a held order (the review is what it waits for first), but the order remembers it:
once approved, it goes on as ``backordered``, where it would stand without the hold, and the next
event moves it on as for any other order.

After delivery, the first after-sales case to open takes the order to ``in_aftersales``; when the
last open case closes it goes back to ``delivered`` if its completion is not due yet, or else
ends like a delivered order whose completion came due: ``returned`` if a closed case said it was
fully returned (every penny refunded), ``completed`` otherwise.
"""

from __future__ import annotations

from enum import StrEnum

from shared.states import StateMachine


class OrderStatus(StrEnum):
    RECEIVED = "received"
    PLACED = "placed"
    HELD = "held"
    BACKORDERED = "backordered"
    AWAITING_PAYMENT = "awaiting_payment"
    DELIVERED = "delivered"
    IN_AFTERSALES = "in_aftersales"
    COMPLETED = "completed"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


S = OrderStatus
ORDER_MACHINE = StateMachine(
    OrderStatus,
    {
        S.RECEIVED: {S.PLACED, S.HELD, S.REJECTED},
        S.REJECTED: {S.PLACED, S.HELD, S.REJECTED},
        S.HELD: {S.PLACED, S.CANCELLED},
        S.PLACED: {S.BACKORDERED, S.AWAITING_PAYMENT, S.DELIVERED, S.CANCELLED},
        S.BACKORDERED: {S.AWAITING_PAYMENT, S.DELIVERED, S.CANCELLED},
        S.AWAITING_PAYMENT: {S.DELIVERED, S.CANCELLED},
        S.DELIVERED: {S.IN_AFTERSALES, S.COMPLETED, S.RETURNED},
        S.IN_AFTERSALES: {S.DELIVERED, S.COMPLETED, S.RETURNED},
    },
    initial={S.RECEIVED},
    terminal={S.COMPLETED, S.RETURNED, S.CANCELLED},
)
TERMINAL = ORDER_MACHINE.terminal | {S.REJECTED}
"""The saga's ends: the machine's, and ``rejected``, which only its channel's correction leaves."""
WAITING = frozenset({S.HELD, S.BACKORDERED, S.AWAITING_PAYMENT, S.IN_AFTERSALES})
ACTIVE = frozenset(OrderStatus) - TERMINAL
"""Not ended: where an order can be stuck."""
OPEN = frozenset({S.PLACED, S.HELD, S.BACKORDERED, S.AWAITING_PAYMENT})
"""Placed and not delivered: what a cancellation or a delivery may still end."""
AFTER_DELIVERY = frozenset({S.DELIVERED, S.IN_AFTERSALES})
"""Delivered and not finished: where after-sales cases open and close."""

_DAY = 24 * 3600.0
STUCK_AFTER_SECONDS: dict[OrderStatus, float] = {
    S.RECEIVED: 300.0,
    S.PLACED: 10 * _DAY,
    S.HELD: 3 * _DAY,
    S.BACKORDERED: 15 * _DAY,
    S.AWAITING_PAYMENT: 8 * _DAY,
    S.DELIVERED: 15 * _DAY,
    S.IN_AFTERSALES: 35 * _DAY,
}
"""How long an order may stay in each status before it counts as stuck, by default: a little longer
than what it waits for takes at most with the other workers' defaults: intake's own judgement
(``received``); a review's 2-day timer (``held``); reservation, payment, packing, shipping and
delivery (``placed``: intake hears nothing between, and delivery takes up to a week); stock's 14-day
backorder grace; payment's 7-day transfer window; intake's 14-day completion window; after-sales'
14-day return window and 14 days to send the goods back."""
