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

from shared.states import StateMachine


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
FULFILLMENT_MACHINE = StateMachine(
    FulfillmentStatus,
    {
        S.AWAITING_PAYMENT: {S.READY, S.CANCELLED},
        S.AWAITING_PICK_LIST: {S.READY, S.CANCELLED},
        S.READY: {S.PICKED, S.CANCELLED},
        S.PICKED: {S.VERIFIED, S.CANCELLED},
        S.VERIFIED: {S.PARCELLED, S.CANCELLED},
        S.PARCELLED: {S.WEIGHED, S.CANCELLED},
        S.WEIGHED: {S.PACKED, S.CANCELLED},
    },
    initial={S.AWAITING_PAYMENT, S.AWAITING_PICK_LIST, S.READY, S.CANCELLED},
    terminal={S.PACKED, S.CANCELLED},
)


def can_cancel(current: str) -> bool:
    """Not handed to the carrier yet, and not cancelled already."""
    return FULFILLMENT_MACHINE.can(current, S.CANCELLED)
