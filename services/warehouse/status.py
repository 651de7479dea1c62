"""The fulfilment's state machine: which status may follow which.

    awaiting_payment ──┐
                       ├─> ready ─> picked ─> verified ─> parcelled ─> weighed ─> packed
    awaiting_pick_list ┘
             │            │        │          │            │           │
             └────────────┴────────┴──────────┴────────────┴───────────┴─> cancelled

Packing is the handover to the carrier, so every status before ``packed`` may end in
``cancelled`` (a customer's cancel, or the order cancelled for another reason) and ``packed``
may not. An order cancelled before anything reached the warehouse starts out ``cancelled`` (a
tombstone), so a late pick list or payment finds it closed. An after-sales replacement starts
out ``ready``, as nothing is charged for it: its pick list opens it. Today every step after
``ready`` runs at once; scanners will drive them one by one.
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
    CANCELLED = "cancelled"


S = FulfillmentStatus
OPENING = frozenset({S.AWAITING_PAYMENT, S.AWAITING_PICK_LIST, S.READY, S.CANCELLED})
"""The statuses a fulfilment may start in."""

TRANSITIONS: dict[FulfillmentStatus, frozenset[FulfillmentStatus]] = {
    S.AWAITING_PAYMENT: frozenset({S.READY, S.CANCELLED}),
    S.AWAITING_PICK_LIST: frozenset({S.READY, S.CANCELLED}),
    S.READY: frozenset({S.PICKED, S.CANCELLED}),
    S.PICKED: frozenset({S.VERIFIED, S.CANCELLED}),
    S.VERIFIED: frozenset({S.PARCELLED, S.CANCELLED}),
    S.PARCELLED: frozenset({S.WEIGHED, S.CANCELLED}),
    S.WEIGHED: frozenset({S.PACKED, S.CANCELLED}),
    S.PACKED: frozenset(),
    S.CANCELLED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A step was asked of a fulfilment in the wrong status: a bug, not a message to retry."""


def check_transition(order_id: str, current: str, wanted: FulfillmentStatus) -> None:
    if wanted not in TRANSITIONS[FulfillmentStatus(current)]:
        raise IllegalTransition(f"fulfilment {order_id} cannot go from {current} to {wanted}")


def can_cancel(current: str) -> bool:
    """Not handed to the carrier yet, and not cancelled already."""
    return S.CANCELLED in TRANSITIONS[FulfillmentStatus(current)]
