"""Intake's domain: the order, and the only place its status changes.

Every status change goes through the state machine of ``status``, so a duplicate, late or
early event finds nothing to do. A rejected order is terminal for the saga, but its channel may
correct it: a new submission with the same (channel, external id) is judged again under the same
order id.

After delivery the order keeps the ids of its after-sales cases, open and closed: a case opens
once, and a close that overtakes its open is remembered, so the late open does not reopen it.
"""

from __future__ import annotations

import uuid
from dataclasses import astuple
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BinaryExpression,
    Boolean,
    Date,
    Integer,
    String,
    UniqueConstraint,
    false,
    tuple_,
)
from sqlalchemy.orm import Composite, DeclarativeBase, Mapped, composite, mapped_column

from shared.contracts import (
    Address,
    CancelReason,
    Contact,
    Customer,
    Delivery,
    OrderApproved,
    OrderCompleted,
    OrderHeld,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderSubmit,
    PaymentInstruction,
    Problem,
    ReviewReason,
    TaxLine,
)
from shared.database import TypedJson, UtcDateTime

from .status import AFTER_DELIVERY, ORDER_MACHINE, TERMINAL, WAITING, OrderStatus
from .submission import SubmissionKey

__all__ = [
    "TERMINAL",
    "WAITING",
    "Base",
    "CatalogueItem",
    "Order",
    "OrderStatus",
    "new_order_id",
]


class Base(DeclarativeBase):
    pass


def new_order_id() -> str:
    return f"ord_{uuid.uuid4().hex[:24]}"


class _SubmissionKeyComparator(Composite.Comparator[SubmissionKey]):
    """``Order.submission.in_(keys)`` as one ``(channel, external_id) IN (…)``, which a composite
    lacks, so ``LockedRows`` can lock and find a batch's orders by their submission key."""

    def in_(self, other: Any) -> BinaryExpression[bool]:
        return tuple_(*self.__clause_element__().clauses).in_([astuple(key) for key in other])


class CatalogueItem(Base):
    """A SKU stock announced as listed (``stock.item_listed``): intake's own copy of what can be
    ordered, so it never reads stock's database. A SKU is only ever added."""

    __tablename__ = "catalogue"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    listed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="orders_submission_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    submission: Mapped[SubmissionKey] = composite(
        SubmissionKey, "channel", "external_id", comparator_factory=_SubmissionKeyComparator
    )
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    customer: Mapped[Customer | None] = mapped_column(TypedJson(Customer))
    lines: Mapped[list[OrderLine]] = mapped_column(TypedJson(list[OrderLine]))
    currency: Mapped[str | None] = mapped_column(String(3))
    items_total: Mapped[int] = mapped_column(Integer)
    shipping_fee: Mapped[int] = mapped_column(Integer)
    delivery: Mapped[Delivery | None] = mapped_column(TypedJson(Delivery))
    payment: Mapped[PaymentInstruction | None] = mapped_column(TypedJson(PaymentInstruction))
    taxes: Mapped[list[TaxLine] | None] = mapped_column(TypedJson(list[TaxLine]))
    """The taxes included in the prices, as the channel sent them (None before they were kept)."""
    problems: Mapped[list[Problem]] = mapped_column(TypedJson(list[Problem]))
    """The last rejection's."""
    cancel_reason: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    expected_delivery: Mapped[date | None] = mapped_column(Date)
    open_cases: Mapped[list[str]] = mapped_column(TypedJson(list[str]), default=list)
    """After-sales cases opened on the delivered order and not closed yet, in opening order."""
    closed_cases: Mapped[list[str]] = mapped_column(TypedJson(list[str]), default=list)
    """After-sales cases closed, in closing order (a close may come before its open)."""
    completion_due: Mapped[bool] = mapped_column(Boolean, default=False)
    """The completion timer fired while cases were open: the last close ends the order."""
    fully_returned: Mapped[bool] = mapped_column(Boolean, default=False)
    """A closed case said the order's refunds add up to its whole total."""
    review_reasons: Mapped[list[ReviewReason]] = mapped_column(
        TypedJson(list[ReviewReason]), default=list, server_default="[]"
    )
    """The review rules that held the order; empty if none did."""
    review_due: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """When the review timer decides a held order."""
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    """Who decided the review (empty for the timer); None while held or never held."""
    backordered_in_review: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    """Stock backordered the order while it was held: approved, it waits for the goods."""

    @classmethod
    def received(cls, channel: str, external_id: str, now: datetime) -> Order:
        """A first submission, before ``place`` or ``reject`` judges it."""
        return cls(
            id=new_order_id(),
            channel=channel,
            external_id=external_id,
            status=OrderStatus.RECEIVED,
            attempts=0,
            lines=[],
            items_total=0,
            shipping_fee=0,
            problems=[],
            open_cases=[],
            closed_cases=[],
            completion_due=False,
            fully_returned=False,
            review_reasons=[],
            backordered_in_review=False,
            submitted_at=now,
            updated_at=now,
        )

    @property
    def total(self) -> int:
        return self.items_total + self.shipping_fee

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def waiting(self) -> bool:
        """In a named waiting state, with a timer behind it (another worker's, or for an order
        in after-sales its own completion timer or one of its cases')."""
        return self.status in WAITING

    @property
    def correctable(self) -> bool:
        """A placed order ignores further submissions; a rejected one takes corrections."""
        return self.status in (OrderStatus.RECEIVED, OrderStatus.REJECTED)

    def place(
        self, submit: OrderSubmit, expected_delivery: date | None, now: datetime
    ) -> OrderPlaced:
        return self._take(submit, expected_delivery, OrderStatus.PLACED, now)

    def hold(
        self,
        submit: OrderSubmit,
        expected_delivery: date | None,
        reasons: list[ReviewReason],
        review_due: datetime,
        now: datetime,
    ) -> tuple[OrderPlaced, OrderHeld]:
        """Placed, but held for review: ``order.placed`` says so, so stock reserves the goods and
        payment waits for ``order.approved``; ``order.held`` tells why and until when."""
        placed = self._take(submit, expected_delivery, OrderStatus.HELD, now)
        self.review_reasons, self.review_due = list(reasons), review_due
        held = OrderHeld(
            order_id=self.id, reasons=reasons, review_due=review_due, channel=self.channel
        )
        return placed, held

    @property
    def held(self) -> bool:
        return self.status == OrderStatus.HELD

    def approve(self, reviewer: str, reason: str, now: datetime) -> list[OrderApproved]:
        """A held order goes on as placed, or backordered if stock backordered it meanwhile;
        any other changes nothing (a late or second decision: the first one won)."""
        if not self.held:
            return []
        self._move(OrderStatus.PLACED, now)
        if self.backordered_in_review:
            self._move(OrderStatus.BACKORDERED, now)
        self.reviewed_by = reviewer
        approved = OrderApproved(
            order_id=self.id, reviewer=reviewer, reason=reason, channel=self.channel
        )
        return [approved]

    def reject_held(self, reviewer: str, reason: str, now: datetime) -> bool:
        """A held order is cancelled (``review_rejected``); any other changes nothing."""
        if not self.held or not self.cancel(CancelReason.REVIEW_REJECTED, now):
            return False
        self.reviewed_by = reviewer
        return True

    def _take(
        self,
        submit: OrderSubmit,
        expected_delivery: date | None,
        status: OrderStatus,
        now: datetime,
    ) -> OrderPlaced:
        self._judged(status, now)
        self.expected_delivery = expected_delivery
        self.customer = submit.customer
        self.lines = list(submit.lines)
        self.currency = submit.currency
        self.items_total = submit.items_total
        self.shipping_fee = submit.shipping_fee
        self.delivery = submit.delivery
        self.payment = submit.payment
        self.taxes = list(submit.taxes)
        return OrderPlaced(
            order_id=self.id,
            channel=submit.channel,
            external_id=submit.external_id,
            customer=submit.customer,
            lines=submit.lines,
            currency=submit.currency,
            items_total=self.items_total,
            shipping_fee=self.shipping_fee,
            total=self.total,
            delivery=submit.delivery,
            payment=submit.payment,
            expected_delivery=expected_delivery,
            held_for_review=status == OrderStatus.HELD,
            taxes=submit.taxes,
        )

    def reject(
        self,
        problems: list[Problem],
        customer: Customer | None,
        now: datetime,
        contact: Contact | None = None,
    ) -> OrderRejected:
        """Reject with every problem; a customer known from an earlier attempt still hears, and
        a submission with no valid customer but a valid address is answered at that address."""
        self._judged(OrderStatus.REJECTED, now)
        customer = customer or self.customer
        self.customer = customer
        self.problems = list(problems)
        return OrderRejected(
            order_id=self.id,
            channel=self.channel,
            external_id=self.external_id,
            problems=problems,
            customer=customer,
            attempt=self.attempts,
            contact=contact if customer is None else None,
        )

    def _judged(self, status: OrderStatus, now: datetime) -> None:
        ORDER_MACHINE.check(f"order {self.id}", self.status, status)
        self.status = status
        self.attempts += 1
        self.problems = []
        self.updated_at = now

    def _move(self, status: OrderStatus, now: datetime) -> bool:
        """Take one step of the state machine; False (and nothing changed) if it is not one."""
        if not ORDER_MACHINE.can(self.status, status):
            return False
        self.status, self.updated_at = status, now
        return True

    def wait_for_stock(self, now: datetime) -> bool:
        """Stock backordered a short line: the order waits for the goods on order (a held one
        once approved)."""
        if self.held:
            self.backordered_in_review = True
        return self._move(OrderStatus.BACKORDERED, now)

    def wait_for_payment(self, now: datetime) -> bool:
        """Payment waits for the customer's money (which also means the stock is reserved)."""
        return self._move(OrderStatus.AWAITING_PAYMENT, now)

    def cancel(self, reason: str, now: datetime) -> bool:
        """Only an open order can be cancelled; the first reason wins."""
        if not self._move(OrderStatus.CANCELLED, now):
            return False
        self.cancel_reason = reason
        return True

    def deliver(self, delivered_at: datetime, now: datetime) -> bool:
        if not self._move(OrderStatus.DELIVERED, now):
            return False
        self.delivered_at = delivered_at
        return True

    def complete(self, now: datetime) -> list[OrderCompleted]:
        """The completion window passed: the order ends, unless an after-sales case is open;
        then it only notes that completion is due, and the last case to close ends it."""
        if self.status == OrderStatus.IN_AFTERSALES:
            self.completion_due, self.updated_at = True, now
            return []
        return self._end(now)

    # -- after-sales cases ------------------------------------------------------------------

    def open_case(self, case_id: str, now: datetime) -> bool:
        """A return, an exchange or a resend opened a case: the order waits in after-sales.

        False (and nothing changed) for a case already open or closed, or an order that is not
        delivered (a late race with its completion).
        """
        if self.status not in AFTER_DELIVERY or self._knows(case_id):
            return False
        if self.status == OrderStatus.DELIVERED:
            self._move(OrderStatus.IN_AFTERSALES, now)
        self.open_cases = [*self.open_cases, case_id]
        self.updated_at = now
        return True

    def close_case(self, case_id: str, fully_returned: bool, now: datetime) -> list[OrderCompleted]:
        """A case ended. When the last open one closes the order goes back to ``delivered``,
        or, if its completion came due meanwhile, ends (``completed``, announced, or
        ``returned``). A case closed already, or an order not delivered, changes nothing.
        """
        if self.status not in AFTER_DELIVERY or case_id in self.closed_cases:
            return []
        self.open_cases = [case for case in self.open_cases if case != case_id]
        self.closed_cases = [*self.closed_cases, case_id]
        self.fully_returned = self.fully_returned or fully_returned
        self.updated_at = now
        if self.status != OrderStatus.IN_AFTERSALES or self.open_cases:
            return []
        if self.completion_due:
            return self._end(now)
        self._move(OrderStatus.DELIVERED, now)
        return []

    def _knows(self, case_id: str) -> bool:
        return case_id in self.open_cases or case_id in self.closed_cases

    def _end(self, now: datetime) -> list[OrderCompleted]:
        """``returned`` when every penny went back (the customer heard of the refund, so
        nothing is announced), else ``completed``; nothing if the order cannot end now."""
        if self.fully_returned:
            self._move(OrderStatus.RETURNED, now)
            return []
        if not self._move(OrderStatus.COMPLETED, now):
            return []
        return [OrderCompleted(order_id=self.id, channel=self.channel)]

    def change_address(self, address: Address, pickup_point_id: str | None, now: datetime) -> bool:
        """Keep the address shipping now delivers to; False if there is nothing to change."""
        if self.delivery is None:
            return False
        current = self.delivery
        changed = Delivery(
            option=current.option,
            address=address,
            pickup_point_id=current.pickup_point_id if pickup_point_id is None else pickup_point_id,
        )
        if changed == current:
            return False
        self.delivery, self.updated_at = changed, now
        return True
