"""The payment's state machine: which status may follow which.

    awaiting_stock ─┐                  ┌─> captured ──(nothing kept)───> refunded
          ▲         ├────> charge_due ─┼─> failed    (part refunded for a case: still captured)
    awaiting_both   │          ▲       ├─> pending ──> captured | expired | voided
          ▼         │          │       └─> deferred ─> captured | voided
    awaiting_order ─┴─> awaiting_review   (held for review: until order.approved)
      (any of the four awaiting_*) ─> cancelled

A payment opens with whichever of its order (``awaiting_stock``), its reserved stock
(``awaiting_order``) or money from the bank (``awaiting_both``) comes first; the order and its stock
both known, it starts; unless the order was held for review (``order.placed`` with
``held_for_review``) and ``order.approved`` has not come yet: then it waits in
``awaiting_review``, and a reject's ``order.cancelled`` finds nothing charged. An approval may
come before the order or its stock (no ordering between events): it opens the payment, or is noted
on it, and the payment starts as soon as both are known. ``charge_due`` lasts one transaction. By
method: a card or e-wallet is charged (captured or failed); a bank transfer or escrow waits for the
money (pending: reminders, then a deadline); cash on delivery defers until the carrier collects.
``cancelled`` is a tombstone: the order was cancelled before payment began, so a late
``order.placed`` or ``stock.reserved`` does nothing.

Money the bank reports before the payment starts is held (in any of the ``NOT_STARTED``
statuses). When it starts, a transfer or escrow counts it: captured at once if it covers the
total (the excess goes back), else pending with that much received; a card, e-wallet or cash on
delivery gives it all back by bank first. Held money in another currency than the order's goes
back once the order is known; an order cancelled before its payment started gets it all back.
Money that arrives after a payment has left ``pending`` goes back whatever its status. Money kept
after a capture goes back in full once the order is cancelled or returned to sender, leaving it
``refunded``; after-sales gives it back case by case instead, and the payment stays ``captured``
(no transition) while it keeps anything, then is ``refunded``.
"""

from __future__ import annotations

from enum import StrEnum

from shared.states import StateMachine


class PaymentStatus(StrEnum):
    AWAITING_BOTH = "awaiting_both"
    AWAITING_STOCK = "awaiting_stock"
    AWAITING_ORDER = "awaiting_order"
    AWAITING_REVIEW = "awaiting_review"
    CHARGE_DUE = "charge_due"
    CAPTURED = "captured"
    FAILED = "failed"
    PENDING = "pending"
    DEFERRED = "deferred"
    EXPIRED = "expired"
    VOIDED = "voided"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


S = PaymentStatus
PAYMENT_MACHINE = StateMachine(
    PaymentStatus,
    {
        S.AWAITING_BOTH: {S.AWAITING_STOCK, S.AWAITING_ORDER, S.CANCELLED},
        S.AWAITING_STOCK: {S.CHARGE_DUE, S.AWAITING_REVIEW, S.CANCELLED},
        S.AWAITING_ORDER: {S.CHARGE_DUE, S.AWAITING_REVIEW, S.CANCELLED},
        S.AWAITING_REVIEW: {S.CHARGE_DUE, S.CANCELLED},
        S.CHARGE_DUE: {S.CAPTURED, S.FAILED, S.PENDING, S.DEFERRED},
        S.PENDING: {S.CAPTURED, S.EXPIRED, S.VOIDED},
        S.DEFERRED: {S.CAPTURED, S.VOIDED},
        S.CAPTURED: {S.REFUNDED},
    },
    initial={S.AWAITING_BOTH, S.AWAITING_STOCK, S.AWAITING_ORDER, S.CANCELLED},
    terminal={S.FAILED, S.EXPIRED, S.VOIDED, S.REFUNDED, S.CANCELLED},
)
WAITING = frozenset({S.AWAITING_BOTH, S.AWAITING_STOCK, S.AWAITING_ORDER, S.AWAITING_REVIEW})
"""Opened, waiting for the order, its stock, both, or the review's approval; a cancel leaves a
tombstone."""
NOT_STARTED = WAITING | {S.CHARGE_DUE}
"""No money asked for yet: money the bank reports now is held until the payment starts."""
AFTER_ORDER = {S.AWAITING_BOTH: S.AWAITING_STOCK, S.AWAITING_ORDER: S.CHARGE_DUE}
"""Where the order's arrival takes a payment that waited for it."""
AFTER_STOCK = {S.AWAITING_BOTH: S.AWAITING_ORDER, S.AWAITING_STOCK: S.CHARGE_DUE}
"""Where the stock's reservation takes a payment that waited for it."""
