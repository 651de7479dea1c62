"""All of payment's SQL, including the simulated gateway's books."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.contracts import Message
from shared.handlers import UnitOfWork
from shared.rows import locked_rows

from .gateway import APPROVED, GatewayCharge
from .model import Payment, payment_id_for


class PaymentUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.payments = PaymentStore(session)
        self.gateway_ledger = GatewayLedger(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """Payments first, then the gateway's books for their idempotency keys, in key order.

        Payment ids derive from order ids, so the keys are known before any payment is read.
        """
        orders = {message.subject for message in messages}
        self.rows.lock(Payment.order_id, orders)
        self.rows.lock(GatewayCharge.idempotency_key, map(payment_id_for, orders))


@dataclass(frozen=True)
class MoneyMoved:
    """What an order was charged and given back, in minor units of its currency."""

    captured: int = 0
    refunded: int = 0


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
        """Captured and refunded totals per order (one order's, if ``order_id`` is given)."""
        query = select(
            Payment.order_id, func.sum(Payment.captured_amount), func.sum(Payment.refunded_amount)
        ).group_by(Payment.order_id)
        if order_id is not None:
            query = query.where(Payment.order_id == order_id)
        return {
            order: MoneyMoved(int(captured), int(refunded))
            for order, captured, refunded in self.session.execute(query)
        }


class GatewayLedger:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def find(self, idempotency_key: str) -> GatewayCharge | None:
        """The charge made with ``idempotency_key``, locked for the rest of the transaction."""
        return self.rows.get(GatewayCharge, idempotency_key)

    def add(self, charge: GatewayCharge) -> None:
        self.rows.add(charge)

    def count(self, idempotency_key: str) -> int:
        query = select(func.count()).where(GatewayCharge.idempotency_key == idempotency_key)
        return self.session.scalar(query) or 0

    def approved_by_reference(self) -> dict[str, int]:
        """Approved charges per order: any count above one is a double charge."""
        query = (
            select(GatewayCharge.reference, func.count())
            .where(GatewayCharge.outcome == APPROVED)
            .group_by(GatewayCharge.reference)
        )
        return {reference: int(n) for reference, n in self.session.execute(query)}

    def count_by_reference(self, reference: str) -> int:
        """Charges made for one order, whatever their keys: more than one is a double charge."""
        query = select(func.count()).where(GatewayCharge.reference == reference)
        return self.session.scalar(query) or 0
