"""All of payment's SQL, including the simulated gateway's books."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.handlers import UnitOfWork

from .gateway import APPROVED, GatewayCharge
from .model import Payment


class PaymentUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.payments = PaymentStore(session)
        self.gateway_ledger = GatewayLedger(session)


@dataclass(frozen=True)
class MoneyMoved:
    """What an order was charged and given back, in minor units of its currency."""

    captured: int = 0
    refunded: int = 0


class PaymentStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, order_id: str) -> Payment | None:
        return self.session.get(Payment, order_id, with_for_update=True)

    def add(self, payment: Payment) -> None:
        self.session.add(payment)

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

    def find(self, idempotency_key: str) -> GatewayCharge | None:
        return self.session.get(GatewayCharge, idempotency_key, with_for_update=True)

    def add(self, charge: GatewayCharge) -> None:
        self.session.add(charge)

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
