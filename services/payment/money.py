"""What payment asks of the gateway, and the keys that make every charge and refund happen once.

A charge's idempotency key is the payment id; a refund's is its refund id, derived from the
payment id and its cause (``rf_<payment id>:<reason>[:<notification id>]``). Both derive from the
order id, so a batch can lock the gateway's ledger rows before any payment is read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from shared.contracts import Message, Money, PaymentNotification, PaymentRefunded


class Reason(StrEnum):
    """Why money goes back (``payment.refunded``) or a payment is closed (``payment.voided``)."""

    CANCELLED = "cancelled"
    RETURNED_TO_SENDER = "returned_to_sender"
    EXPIRED = "expired"
    OVERPAYMENT = "overpayment"
    LATE_PAYMENT = "late_payment"


ORDER_REFUNDS = (Reason.CANCELLED, Reason.RETURNED_TO_SENDER, Reason.EXPIRED)
"""At most one refund each per payment."""
MONEY_REFUNDS = (Reason.OVERPAYMENT, Reason.LATE_PAYMENT)
"""At most one refund each per bank notification."""

BANK = "bank"
"""The route of money that came by bank transfer, escrow or cash: it goes back by bank."""


def payment_id_for(order_id: str) -> str:
    """Derived from the order, so a retried transaction charges with the same idempotency key."""
    return "pay_" + hashlib.sha256(order_id.encode()).hexdigest()[:24]


def refund_id_for(payment_id: str, reason: Reason, notification_id: str | None = None) -> str:
    """One refund per payment and cause: a retry or a second cause gives back nothing more."""
    cause = reason.value if notification_id is None else f"{reason.value}:{notification_id}"
    return f"rf_{payment_id}:{cause}"


def ledger_keys(message: Message) -> list[str]:
    """Every gateway ledger row the handler of ``message`` may read or write."""
    payment_id = payment_id_for(message.subject)
    keys = [payment_id, *(refund_id_for(payment_id, reason) for reason in ORDER_REFUNDS)]
    if isinstance(message, PaymentNotification):
        nid = message.notification_id
        keys += [refund_id_for(payment_id, reason, nid) for reason in MONEY_REFUNDS]
    return keys


@dataclass(frozen=True)
class ChargeRequest:
    idempotency_key: str
    reference: str
    amount: Money
    token: str | None
    route: str = "card"


@dataclass(frozen=True)
class ChargeOutcome:
    approved: bool
    reason: str = ""


@dataclass(frozen=True)
class RefundRequest:
    idempotency_key: str
    reference: str
    amount: Money
    reason: Reason
    route: str
    token: str | None = None


@dataclass(frozen=True)
class Refund:
    """Money to give back: what to ask the gateway, and what to announce once it is done."""

    request: RefundRequest
    announcement: PaymentRefunded
