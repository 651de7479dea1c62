"""All of reporting's SQL: what a batch's events say is gathered per row as the handlers run,
and written when they all have, one statement per table (``services.reporting.upserts``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from shared.contracts import OrderPlaced, ReturnAuthorized, ReturnReceived
from shared.service import UnitOfWork

from .model import (
    ORDER_RULES,
    RETURN_RULES,
    STEPS,
    ReportedLine,
    ReportedOrder,
    ReportedRefund,
    ReportedRejection,
    ReportedReturn,
)
from .upserts import Pending


class ReportingUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.orders = OrderRows()
        self.refunds = Pending(ReportedRefund)
        self.returns = ReturnRows()
        self.rejections = Pending(ReportedRejection)

    def finish(self) -> None:
        """Orders before their lines, which name them."""
        for pending in (*self.orders.pending, self.refunds, self.returns.pending, self.rejections):
            pending.write(self.session)


class OrderRows:
    """What the batch says about orders and their lines."""

    def __init__(self) -> None:
        self.orders = Pending(ReportedOrder, ORDER_RULES)
        self.lines = Pending(ReportedLine)

    @property
    def pending(self) -> tuple[Pending, Pending]:
        return self.orders, self.lines

    def reached(self, order_id: str, step: str, at: datetime) -> None:
        if step not in STEPS:
            raise ValueError(f"no step {step!r}")
        self.orders.add(order_id=order_id, **{step: at})

    def placed(self, event: OrderPlaced, at: datetime) -> None:
        """What the order is: its channel, where it goes, how it is paid, what it holds."""
        self.orders.add(
            order_id=event.order_id,
            channel=event.channel,
            country=event.delivery.address.country,
            language=event.customer.language,
            currency=event.currency,
            payment_method=event.payment.method,
            items_total=event.items_total,
            shipping_fee=event.shipping_fee,
            total=event.total,
            promised_delivery=event.expected_delivery,
            placed_at=at,
        )
        for number, line in enumerate(event.lines, start=1):
            self.lines.add(
                order_id=event.order_id,
                line=number,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )

    def cancelled(self, order_id: str, reason: str, at: datetime) -> None:
        self.orders.add(order_id=order_id, cancel_reason=reason, cancelled_at=at)

    def dispatched(self, order_id: str, carrier_expected: date, at: datetime) -> None:
        self.orders.add(
            order_id=order_id, carrier_expected_delivery=carrier_expected, dispatched_at=at
        )

    def replaces(self, order_id: str, replaced: str) -> None:
        self.orders.add(order_id=order_id, replaces_order=replaced)


class ReturnRows:
    """What the batch says about returns, by RMA."""

    def __init__(self) -> None:
        self.pending = Pending(ReportedReturn, RETURN_RULES)

    def authorized(self, event: ReturnAuthorized, at: datetime) -> None:
        self.pending.add(
            rma=event.rma,
            order_id=event.order_id,
            resolution=event.resolution,
            reason=event.reason,
            lines=event.lines,
            authorized_at=at,
        )

    def received(self, event: ReturnReceived, at: datetime) -> None:
        self.pending.add(
            rma=event.rma,
            order_id=event.order_id,
            resolution=event.resolution,
            lines=[],
            received_at=at,
        )
