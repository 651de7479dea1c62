"""Payment's domain: one payment per order, charged once the order and its stock are both known.

``order.placed`` (amount, method, token) and ``stock.reserved`` arrive in any order, perhaps twice,
perhaps late. A duplicate or late event changes nothing: the ``take_*`` methods say whether it
moved the payment on, and every status change is checked against ``TRANSITIONS``.

    awaiting_stock ─┐
                    ├─> charge_due ─> captured | failed
    awaiting_order ─┘

``charge_due`` lasts one transaction: card and e-wallet payments are charged in the same one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import Money, OrderPlaced, PaymentCaptured, PaymentFailed, PaymentMethod
from shared.database import UtcDateTime
from shared.errors import PermanentError

CHARGED_AT_ONCE = frozenset({PaymentMethod.CARD, PaymentMethod.E_WALLET})


class Base(DeclarativeBase):
    pass


class PaymentStatus(StrEnum):
    AWAITING_STOCK = "awaiting_stock"
    AWAITING_ORDER = "awaiting_order"
    CHARGE_DUE = "charge_due"
    CAPTURED = "captured"
    FAILED = "failed"


S = PaymentStatus
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    S.AWAITING_STOCK: frozenset({S.CHARGE_DUE}),
    S.AWAITING_ORDER: frozenset({S.CHARGE_DUE}),
    S.CHARGE_DUE: frozenset({S.CAPTURED, S.FAILED}),
    S.CAPTURED: frozenset(),
    S.FAILED: frozenset(),
}


class UnsupportedPaymentMethod(PermanentError):
    """A method payment cannot handle yet; intake should have refused the order."""


def payment_id_for(order_id: str) -> str:
    """Derived from the order, so a retried transaction charges with the same idempotency key."""
    return "pay_" + hashlib.sha256(order_id.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ChargeRequest:
    idempotency_key: str
    reference: str
    amount: Money
    token: str | None


@dataclass(frozen=True)
class ChargeOutcome:
    approved: bool
    reason: str = ""


class Payment(Base):
    __tablename__ = "payments"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    method: Mapped[str | None] = mapped_column(String(32))
    token: Mapped[str | None] = mapped_column(String(128))
    amount: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    captured_amount: Mapped[int] = mapped_column(Integer, default=0)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @classmethod
    def for_order(cls, order: OrderPlaced, now: datetime) -> Payment:
        payment = cls.opened(order.order_id, PaymentStatus.AWAITING_STOCK, now)
        payment._record_intent(order)
        return payment

    @classmethod
    def for_reserved_stock(cls, order_id: str, now: datetime) -> Payment:
        return cls.opened(order_id, PaymentStatus.AWAITING_ORDER, now)

    @classmethod
    def opened(cls, order_id: str, status: PaymentStatus, now: datetime) -> Payment:
        return cls(
            order_id=order_id,
            payment_id=payment_id_for(order_id),
            status=status,
            captured_amount=0,
            refunded_amount=0,
            updated_at=now,
        )

    def take_order(self, order: OrderPlaced, now: datetime) -> bool:
        """The order reaches a payment its stock opened; False if the order is known already."""
        if self.status != PaymentStatus.AWAITING_ORDER:
            return False
        self._record_intent(order)
        self._move_to(PaymentStatus.CHARGE_DUE, now)
        return True

    def take_stock_reservation(self, now: datetime) -> bool:
        """The stock is reserved for a known order; False if it was reserved already."""
        if self.status != PaymentStatus.AWAITING_STOCK:
            return False
        self._move_to(PaymentStatus.CHARGE_DUE, now)
        return True

    def charge_request(self) -> ChargeRequest:
        return ChargeRequest(self.payment_id, self.order_id, self.total, self.token)

    def settle(self, outcome: ChargeOutcome, now: datetime) -> PaymentCaptured | PaymentFailed:
        """Apply the gateway's answer and say what the other workers need to hear."""
        method = self.paid_by
        if outcome.approved:
            self._move_to(PaymentStatus.CAPTURED, now)
            self.captured_amount = self.total.amount
            return PaymentCaptured(
                order_id=self.order_id, payment_id=self.payment_id, method=method, amount=self.total
            )
        self.failure_reason = outcome.reason
        self._move_to(PaymentStatus.FAILED, now)
        return PaymentFailed(
            order_id=self.order_id, payment_id=self.payment_id, method=method, reason=outcome.reason
        )

    @property
    def total(self) -> Money:
        if self.amount is None or self.currency is None:
            raise RuntimeError(f"payment {self.payment_id} has no order yet")
        return Money(amount=self.amount, currency=self.currency)

    @property
    def paid_by(self) -> PaymentMethod:
        if self.method is None:
            raise RuntimeError(f"payment {self.payment_id} has no order yet")
        return PaymentMethod(self.method)

    def _record_intent(self, order: OrderPlaced) -> None:
        method = order.payment.method
        if method not in CHARGED_AT_ONCE:
            raise UnsupportedPaymentMethod(
                f"order {order.order_id}: payment method {method.value!r} is not supported yet "
                f"(only {', '.join(sorted(CHARGED_AT_ONCE))}); intake should have refused it"
            )
        self.method = method
        self.token = order.payment.token
        self.amount = order.total
        self.currency = order.currency

    def _move_to(self, status: PaymentStatus, now: datetime) -> None:
        if status not in TRANSITIONS[PaymentStatus(self.status)]:
            raise RuntimeError(f"payment {self.order_id}: no way from {self.status} to {status}")
        self.status = status
        self.updated_at = now
