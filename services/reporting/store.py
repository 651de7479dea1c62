"""All of reporting's SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from shared.contracts import Message, PaymentRefunded, ReturnAuthorized, ReturnReceived
from shared.rows import locked_rows
from shared.service import UnitOfWork

from .model import ReportedOrder, ReportedRefund, ReportedRejection, ReportedReturn


class ReportingUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.orders = OrderStore(session)
        self.refunds = RefundStore(session)
        self.returns = ReturnStore(session)
        self.rejections = RejectionStore(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """The batch's orders, refunds and returns, one query per table."""
        self.rows.lock(ReportedOrder.order_id, (message.subject for message in messages))
        refunds = (m.refund_id for m in messages if isinstance(m, PaymentRefunded))
        self.rows.lock(ReportedRefund.refund_id, refunds)
        rmas = (m.rma for m in messages if isinstance(m, ReturnAuthorized | ReturnReceived))
        self.rows.lock(ReportedReturn.rma, rmas)


class OrderStore:
    def __init__(self, session: Session) -> None:
        self.rows = locked_rows(session)

    def get(self, order_id: str) -> ReportedOrder:
        """The order's row, made empty if no event about it was seen before (an event may
        arrive before the order's ``order.placed``)."""
        order = self.rows.get(ReportedOrder, order_id)
        if order is None:
            order = ReportedOrder(order_id=order_id, lines=[])
            self.rows.add(order)
        return order


class RefundStore:
    def __init__(self, session: Session) -> None:
        self.rows = locked_rows(session)

    def add_once(self, refund: ReportedRefund) -> None:
        if self.rows.get(ReportedRefund, refund.refund_id) is None:
            self.rows.add(refund)


class ReturnStore:
    def __init__(self, session: Session) -> None:
        self.rows = locked_rows(session)

    def get(self, rma: str, order_id: str) -> ReportedReturn:
        found = self.rows.get(ReportedReturn, rma)
        if found is None:
            found = ReportedReturn(rma=rma, order_id=order_id, lines=[])
            self.rows.add(found)
        return found


class RejectionStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_once(self, rejection: ReportedRejection) -> None:
        key = (rejection.order_id, rejection.attempt)
        if self.session.get(ReportedRejection, key) is None:
            self.session.add(rejection)
