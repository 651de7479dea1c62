"""Which announcements are compensations, and of what kind and for what reason, counted as
``orderflow_compensations_total`` once the batch that announces them commits.

Handlers stay pure: the runtime derives the count from the outbox rows a batch committed (a
rolled-back batch counts nothing), by type. A label must stay bounded, so a reason is one of its
kind's known causes or ``other``: free text (a customer's cancel reason) never becomes a label.

- ``order_cancelled``: intake ends the order; the reason is a ``CancelReason``.
- ``stock_released``: stock gives a reservation back; the reason is the order's cancel reason.
- ``stock_restocked``: goods came back to the shelf (returned to sender, or by the customer).
- ``payment_voided``, ``payment_refunded``: payment closes a payment that took no money, or
  gives money back; the reason is payment's (a cancel, an expiry, an overpayment, ...) or, for
  an after-sales case, after-sales' (``returned``, ...).
- ``fulfillment_cancelled``: the warehouse stopped the order before it left: always the
  customer's cancel (its reason is their free text, so the label says ``customer_cancelled``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared import metrics
from shared.contracts import (
    CancelReason,
    FulfillmentCancelled,
    Message,
    OrderCancelled,
    PaymentRefunded,
    PaymentVoided,
    StockReleased,
    StockRestocked,
)
from shared.envelope import Envelope

OTHER = "other"

CANCEL_REASONS = frozenset(CancelReason)
PAYMENT_REASONS = frozenset(
    {
        *("cancelled", "returned_to_sender", "expired", "overpayment", "late_payment"),
        *("not_expected", "unclaimed", "wrong_currency"),
        *("returned", "replacement_unavailable", "replacement_undeliverable"),
    }
)
"""Payment's own reasons (``services.payment.money.Reason``) and after-sales' refund reasons; a
unit test holds this list to theirs."""
RESTOCK_REASONS = frozenset({"returned_to_sender", "returned_by_customer"})


@dataclass(frozen=True)
class Kind:
    name: str
    reasons: frozenset[str]
    fixed_reason: str | None = None
    """The reason every such announcement has (its own field is free text)."""

    def reason(self, data: Mapping[str, Any]) -> str:
        if self.fixed_reason is not None:
            return self.fixed_reason
        reason = data.get("reason")
        return reason if isinstance(reason, str) and reason in self.reasons else OTHER

    @property
    def label_values(self) -> list[str]:
        return [self.fixed_reason] if self.fixed_reason else [*sorted(self.reasons), OTHER]


KINDS: dict[type[Message], Kind] = {
    OrderCancelled: Kind("order_cancelled", CANCEL_REASONS),
    StockReleased: Kind("stock_released", CANCEL_REASONS),
    StockRestocked: Kind("stock_restocked", RESTOCK_REASONS),
    PaymentVoided: Kind("payment_voided", PAYMENT_REASONS),
    PaymentRefunded: Kind("payment_refunded", PAYMENT_REASONS),
    FulfillmentCancelled: Kind(
        "fulfillment_cancelled", frozenset(), fixed_reason=CancelReason.CUSTOMER_CANCELLED
    ),
}
_BY_TYPE = {contract.type: kind for contract, kind in KINDS.items()}


def compensation(type_name: str, data: Mapping[str, Any]) -> tuple[str, str] | None:
    """The kind and reason of a compensating announcement; None for any other."""
    kind = _BY_TYPE.get(type_name)
    return None if kind is None else (kind.name, kind.reason(data))


def count_compensations(worker: str, committed: Iterable[Envelope]) -> None:
    for envelope in committed:
        kind = _BY_TYPE.get(envelope.type)
        if kind is not None:
            metrics.COMPENSATIONS.labels(worker, kind.name, kind.reason(envelope.data)).inc()


def label_sets(publishes: Iterable[type[Message]]) -> list[tuple[str, str]]:
    """Every (kind, reason) a worker that announces ``publishes`` can count."""
    return [
        (kind.name, reason)
        for contract in publishes
        if (kind := KINDS.get(contract))
        for reason in kind.label_values
    ]
