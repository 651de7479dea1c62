"""The fulfilment's state machine: which status may follow which.

    awaiting_payment ──┐
                       ├─> ready ─> picked ─> verified ─> parcelled ─> weighed ─> packed
    awaiting_pick_list ┘

Today every step after ``ready`` runs at once; scanners will drive them one by one, and
cancellation will add an exit (and a tombstone for an order not here yet): each is one more
entry in ``TRANSITIONS``.
"""

from __future__ import annotations

from enum import StrEnum


class FulfillmentStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    AWAITING_PICK_LIST = "awaiting_pick_list"
    READY = "ready"
    PICKED = "picked"
    VERIFIED = "verified"
    PARCELLED = "parcelled"
    WEIGHED = "weighed"
    PACKED = "packed"


S = FulfillmentStatus
TRANSITIONS: dict[FulfillmentStatus, frozenset[FulfillmentStatus]] = {
    S.AWAITING_PAYMENT: frozenset({S.READY}),
    S.AWAITING_PICK_LIST: frozenset({S.READY}),
    S.READY: frozenset({S.PICKED}),
    S.PICKED: frozenset({S.VERIFIED}),
    S.VERIFIED: frozenset({S.PARCELLED}),
    S.PARCELLED: frozenset({S.WEIGHED}),
    S.WEIGHED: frozenset({S.PACKED}),
    S.PACKED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A step was asked of a fulfilment in the wrong status: a bug, not a message to retry."""


def check_transition(order_id: str, current: str, wanted: FulfillmentStatus) -> None:
    if wanted not in TRANSITIONS[FulfillmentStatus(current)]:
        raise IllegalTransition(f"fulfilment {order_id} cannot go from {current} to {wanted}")
