"""All of payment's SQL: payments, the simulated gateway's books and the bank's receipts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.contracts import Message, PaymentNotification
from shared.rows import KeyedRows, locked_rows
from shared.service import UnitOfWork

from .gateway import APPROVED, CHARGE, REFUND, GatewayEntry
from .model import Payment
from .money import is_replacement, ledger_keys
from .receipts import Receipt


class PaymentUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.payments = PaymentStore(session)
        self.gateway_ledger = GatewayLedger(session)
        self.receipts = KeyedRows(session, Receipt)

    def preload(self, messages: Sequence[Message]) -> None:
        """Payments, then the gateway's books, then bank receipts: one query each, in key order.

        Charge and refund keys derive from order ids (and notification ids, and the case ids of
        after-sales' refund requests), so every ledger row a handler may touch is known before
        any payment is read. A replacement's reservation touches nothing.
        """
        self.rows.lock(Payment.order_id, {m.subject for m in messages if not is_replacement(m)})
        self.rows.lock(
            GatewayEntry.idempotency_key, {key for m in messages for key in ledger_keys(m)}
        )
        self.rows.lock(
            Receipt.notification_id,
            {m.notification_id for m in messages if isinstance(m, PaymentNotification)},
        )


@dataclass(frozen=True)
class MoneyMoved:
    """What an order was charged and given back, in minor units of its currency."""

    captured: int = 0
    refunded: int = 0
    currency: str | None = field(default=None, compare=False)
    """The payment's currency: for audits, not part of the amounts' equality."""


class PaymentStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def get(self, order_id: str) -> Payment | None:
        """The order's payment, locked for the rest of the transaction."""
        return self.rows.get(Payment, order_id)

    def add(self, payment: Payment) -> None:
        self.rows.add(payment)

    def money_moved(self, order_id: str) -> MoneyMoved:
        return self.money_moved_by_order(order_id).get(order_id, MoneyMoved())

    def money_moved_by_order(self, order_id: str | None = None) -> dict[str, MoneyMoved]:
        """Taken in (charges, bank receipts, cash) and given back per order, or for one order."""
        query = select(
            Payment.order_id,
            func.sum(Payment.captured_amount),
            func.sum(Payment.refunded_amount),
            Payment.currency,
        ).group_by(Payment.order_id, Payment.currency)
        if order_id is not None:
            query = query.where(Payment.order_id == order_id)
        return {
            order: MoneyMoved(int(captured), int(refunded), currency)
            for order, captured, refunded, currency in self.session.execute(query)
        }


class GatewayLedger:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def find(self, idempotency_key: str) -> GatewayEntry | None:
        """The charge or refund made with ``idempotency_key``, locked for the transaction."""
        return self.rows.get(GatewayEntry, idempotency_key)

    def add(self, entry: GatewayEntry) -> None:
        self.rows.add(entry)

    def count(self, idempotency_key: str) -> int:
        query = select(func.count()).where(GatewayEntry.idempotency_key == idempotency_key)
        return self.session.scalar(query) or 0

    def approved_by_reference(self) -> dict[str, int]:
        """Approved charges (never refunds) per order: any count above one is a double charge."""
        query = (
            select(GatewayEntry.reference, func.count())
            .where(GatewayEntry.kind == CHARGE, GatewayEntry.outcome == APPROVED)
            .group_by(GatewayEntry.reference)
        )
        return {reference: int(n) for reference, n in self.session.execute(query)}

    def refunded_by_reference(self) -> dict[str, int]:
        """Money the gateway gave back per order; it matches each payment's refunded amount."""
        query = (
            select(GatewayEntry.reference, func.sum(GatewayEntry.amount))
            .where(GatewayEntry.kind == REFUND)
            .group_by(GatewayEntry.reference)
        )
        return {reference: int(total) for reference, total in self.session.execute(query)}

    def count_by_reference(self, reference: str) -> int:
        """Charges made for one order, whatever their keys: more than one is a double charge."""
        query = select(func.count()).where(
            GatewayEntry.reference == reference, GatewayEntry.kind == CHARGE
        )
        return self.session.scalar(query) or 0

    def refunds_for(self, reference: str) -> list[GatewayEntry]:
        """The refunds made for one order, in key order."""
        query = (
            select(GatewayEntry)
            .where(GatewayEntry.reference == reference, GatewayEntry.kind == REFUND)
            .order_by(GatewayEntry.idempotency_key)
        )
        return list(self.session.scalars(query))
