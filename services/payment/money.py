"""What payment asks of the gateway, and the keys that make every charge and refund happen once.

A charge's idempotency key is the payment id; a refund's is its refund id, derived from the
payment id and its cause (``rf_<payment id>:<reason>[:<notification id or case id>]``). All derive
from the message (its order id, and a bank notification's or a refund request's own id), so a batch
can lock the gateway's ledger rows before any payment is read. Money held since before a payment
started goes back under a refund id of the payment alone, once per reason: the order or its stock
that starts the payment names no notification.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.contracts import (
    Message,
    Money,
    OrderApproved,
    OrderPlaced,
    PaymentHoldDue,
    PaymentNotification,
    PaymentRefunded,
    RefundRequested,
    StockReserved,
)


class Reason(StrEnum):
    """Why money goes back (``payment.refunded``) or a payment is closed (``payment.voided``).

    ``case`` is the cause in the refund id of an after-sales refund; its ``payment.refunded``
    carries the reason after-sales gave (``returned``, ``replacement_unavailable``, …).
    """

    CANCELLED = "cancelled"
    RETURNED_TO_SENDER = "returned_to_sender"
    EXPIRED = "expired"
    OVERPAYMENT = "overpayment"
    LATE_PAYMENT = "late_payment"
    NOT_EXPECTED = "not_expected"
    UNCLAIMED = "unclaimed"
    WRONG_CURRENCY = "wrong_currency"
    CASE = "case"


ORDER_REFUNDS = (Reason.CANCELLED, Reason.RETURNED_TO_SENDER, Reason.EXPIRED)
"""At most one refund each per payment."""
MONEY_REFUNDS = (Reason.OVERPAYMENT, Reason.LATE_PAYMENT)
"""At most one refund each per bank notification."""
HELD_REFUNDS = (Reason.WRONG_CURRENCY, Reason.NOT_EXPECTED, Reason.OVERPAYMENT)
"""At most one refund each per payment, of money held since before it started: given back when
the order arrives in another currency, or when the payment starts (a card, e-wallet or cash on
delivery expects none; a transfer or escrow keeps no more than the total). Only the order or its
stock make these: their messages carry no notification id, so neither do the refund ids."""
CASE_REFUNDS = (Reason.CASE,)
"""At most one refund per after-sales case."""

BANK = "bank"
"""The route of money that came by bank transfer, escrow or cash: it goes back by bank."""


def payment_id_for(order_id: str) -> str:
    """Derived from the order, so a retried transaction charges with the same idempotency key."""
    return "pay_" + hashlib.sha256(order_id.encode()).hexdigest()[:24]


def refund_id_for(payment_id: str, reason: Reason, cause_id: str | None = None) -> str:
    """One refund per payment and cause: a retry or a second cause gives back nothing more.

    ``cause_id`` tells the causes of one reason apart: the bank notification whose money goes
    back, or the after-sales case refunded.
    """
    cause = reason.value if cause_id is None else f"{reason.value}:{cause_id}"
    return f"rf_{payment_id}:{cause}"


def is_replacement(message: Message) -> bool:
    """Stock reserved for an after-sales replacement: shipped free of charge, none of payment's
    business (its order id is a case id, which has no payment)."""
    return isinstance(message, StockReserved) and message.replaces_order is not None


def unclaimed_refund_id(payment_id: str, since: datetime) -> str:
    """Money held for an order that never came goes back once per hold (a hold starts with the
    first money held)."""
    return refund_id_for(payment_id, Reason.UNCLAIMED, since.isoformat())


def ledger_keys(message: Message) -> list[str]:
    """Every gateway ledger row the handler of ``message`` may read or write."""
    if is_replacement(message):
        return []
    payment_id = payment_id_for(message.subject)
    keys = [payment_id, *(refund_id_for(payment_id, reason) for reason in ORDER_REFUNDS)]
    if isinstance(message, OrderPlaced | StockReserved | OrderApproved):
        keys += [refund_id_for(payment_id, reason) for reason in HELD_REFUNDS]
    if isinstance(message, PaymentNotification):
        nid = message.notification_id
        keys += [refund_id_for(payment_id, reason, nid) for reason in MONEY_REFUNDS]
    if isinstance(message, PaymentHoldDue):
        keys.append(unclaimed_refund_id(payment_id, message.since))
    if isinstance(message, RefundRequested):
        keys += [refund_id_for(payment_id, reason, message.case_id) for reason in CASE_REFUNDS]
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
    reason: str
    """What the gateway books the refund under: the reason ``payment.refunded`` announces."""
    route: str
    token: str | None = None


@dataclass(frozen=True)
class Refund:
    """Money to give back: what to ask the gateway, and what to announce once it is done."""

    request: RefundRequest
    announcement: PaymentRefunded
