"""Payment's domain: one payment per order, started once the order and its stock are both known.

``order.placed`` (amount, method, token) and ``stock.reserved`` arrive in any order, perhaps twice,
perhaps late; so do the events that end a payment, and so does the bank's money, which may come
before either: it is held until the payment starts, then counted or given back. A duplicate or
late event changes nothing: each method checks the status first, and every status change is
checked against the state machine in ``status.py``. Methods return what the payment decided, as
``Step``s: messages to announce, timers to schedule, refunds for the handler to make through the
gateway.

Money: ``captured_amount`` is all money taken in (the charge, every bank receipt, held or not, the
cash collected) and ``refunded_amount`` all money given back; ``kept`` is the difference. Nothing
is given back that was not taken, and once the payment has started no more than the order's total
is ever kept (money held before may be more, or in another currency: it goes back then). After
delivery, after-sales may ask for part of it back, once per case: never more than is still kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Integer, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import (
    Message,
    Money,
    OrderPlaced,
    PaymentCaptured,
    PaymentDeadlineDue,
    PaymentDeferred,
    PaymentExpired,
    PaymentFailed,
    PaymentHoldDue,
    PaymentMethod,
    PaymentNotification,
    PaymentPending,
    PaymentRefunded,
    PaymentReminder,
    PaymentReminderDue,
    PaymentVoided,
    RefundRequested,
)
from shared.database import TypedJson, UtcDateTime
from shared.errors import PermanentError
from shared.timers import Scheduled

from .money import (
    BANK,
    ChargeOutcome,
    ChargeRequest,
    Reason,
    Refund,
    RefundRequest,
    payment_id_for,
    refund_id_for,
    unclaimed_refund_id,
)
from .status import (
    AFTER_ORDER,
    AFTER_STOCK,
    NOT_STARTED,
    PAYMENT_MACHINE,
    WAITING,
    PaymentStatus,
)

CHARGED_AT_ONCE = frozenset({PaymentMethod.CARD, PaymentMethod.E_WALLET})
COLLECTED_ON_DELIVERY = frozenset({PaymentMethod.CASH_ON_DELIVERY})

Step = Message | Scheduled | Refund
"""What a payment decides: announce, schedule, or give money back (then announce it)."""


class Base(DeclarativeBase):
    pass


class RefundNotPossible(PermanentError):
    """After-sales asks for money back that payment does not hold: parked for an operator."""


@dataclass(frozen=True)
class PaymentTerms:
    """How long a customer has to pay by transfer or escrow, and when to remind them."""

    window: timedelta = timedelta(days=7)
    reminders: tuple[timedelta, ...] = (timedelta(days=2), timedelta(days=5))


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
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime())
    case_refunds: Mapped[dict[str, int]] = mapped_column(TypedJson(dict[str, int]), default=dict)
    """After-sales case id → what its refund gave back: each case is refunded once."""
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """The order was held for review: it starts only once approved."""
    approved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """``order.approved`` was heard (perhaps before the order itself)."""
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    # -- opening: the order, its stock and perhaps money held for it, in any order ------------

    @classmethod
    def for_order(cls, order: OrderPlaced, now: datetime) -> Payment:
        payment = cls.opened(order.order_id, PaymentStatus.AWAITING_STOCK, now)
        payment._record_intent(order)
        return payment

    @classmethod
    def for_reserved_stock(cls, order_id: str, now: datetime) -> Payment:
        return cls.opened(order_id, PaymentStatus.AWAITING_ORDER, now)

    @classmethod
    def holding_money(cls, order_id: str, now: datetime) -> Payment:
        """The bank reports money before payment heard of the order: opened to hold it."""
        return cls.opened(order_id, PaymentStatus.AWAITING_BOTH, now)

    @classmethod
    def for_approval(cls, order_id: str, now: datetime) -> Payment:
        """The review's approval came before the order and its stock: noted, waiting for both."""
        payment = cls.opened(order_id, PaymentStatus.AWAITING_BOTH, now)
        payment.approved = True
        return payment

    @classmethod
    def tombstone(cls, order_id: str, now: datetime) -> Payment:
        """The order was cancelled before payment heard of it: nothing will be charged."""
        return cls.opened(order_id, PaymentStatus.CANCELLED, now)

    @classmethod
    def opened(cls, order_id: str, status: PaymentStatus, now: datetime) -> Payment:
        PAYMENT_MACHINE.check_start(f"payment {order_id}", status)
        return cls(
            order_id=order_id,
            payment_id=payment_id_for(order_id),
            status=status,
            captured_amount=0,
            refunded_amount=0,
            case_refunds={},
            held=False,
            approved=False,
            updated_at=now,
        )

    def take_order(self, order: OrderPlaced, now: datetime) -> list[Step]:
        """The order reaches a payment its stock or the bank's money opened; nothing if the order
        is known already. Money held in another currency than the order's goes back, all of it.
        """
        following = AFTER_ORDER.get(PaymentStatus(self.status))
        if following is None:
            return []
        steps: list[Step] = []
        if self.currency is not None and self.currency != order.currency:
            steps = self._give_back_held(self.kept, Reason.WRONG_CURRENCY)
        self._record_intent(order)
        self._move_to(self._unless_unapproved(following), now)
        return steps

    def take_stock_reservation(self, now: datetime) -> bool:
        """The order's stock is reserved; False if it was reserved already."""
        following = AFTER_STOCK.get(PaymentStatus(self.status))
        if following is None:
            return False
        self._move_to(self._unless_unapproved(following), now)
        return True

    def approve(self, now: datetime) -> bool:
        """The held order was approved: True if the payment may start now (its order and stock
        were both known); else the approval is noted for when they are."""
        self.approved, self.updated_at = True, now
        if self.status != PaymentStatus.AWAITING_REVIEW:
            return False
        self._move_to(PaymentStatus.CHARGE_DUE, now)
        return True

    def _unless_unapproved(self, following: PaymentStatus) -> PaymentStatus:
        """Where the order or its stock takes the payment: a held order not approved yet waits
        for its approval instead of starting."""
        if following == PaymentStatus.CHARGE_DUE and self.held and not self.approved:
            return PaymentStatus.AWAITING_REVIEW
        return following

    # -- starting, by method ------------------------------------------------------------------

    @property
    def charge_due(self) -> bool:
        """The order and its stock are both known: the payment starts now."""
        return self.status == PaymentStatus.CHARGE_DUE

    @property
    def charged_at_once(self) -> bool:
        return self.paid_by in CHARGED_AT_ONCE

    @property
    def collected_on_delivery(self) -> bool:
        return self.paid_by in COLLECTED_ON_DELIVERY

    def charge_request(self) -> ChargeRequest:
        return ChargeRequest(self.payment_id, self.order_id, self.total, self.token, self.paid_by)

    def settle(self, outcome: ChargeOutcome, now: datetime) -> PaymentCaptured | PaymentFailed:
        """Apply the gateway's answer and say what the other workers need to hear."""
        if outcome.approved:
            self._move_to(PaymentStatus.CAPTURED, now)
            self.captured_amount += self.total.amount
            return self._captured()
        self.failure_reason = outcome.reason
        self._move_to(PaymentStatus.FAILED, now)
        return PaymentFailed(
            order_id=self.order_id,
            payment_id=self.payment_id,
            method=self.paid_by,
            reason=outcome.reason,
        )

    def give_back_held(self) -> list[Step]:
        """A card, e-wallet or cash on delivery asks for no money by bank: what the bank reported
        before the payment started goes back, all of it, by bank."""
        if self.status not in NOT_STARTED:
            raise RuntimeError(f"payment {self.payment_id} is {self.status}: it holds nothing")
        return self._give_back_held(self.kept, Reason.NOT_EXPECTED)

    def await_funds(self, now: datetime, terms: PaymentTerms) -> list[Step]:
        """Bank transfer, escrow: ask for the money; remind before the deadline, then expire.

        Money held since before the payment started counts: if it covers the total, the payment
        is captured at once (anything more goes back) and nothing is asked for; a part of it
        shows as received.
        """
        if self.kept >= self.total.amount:
            self._move_to(PaymentStatus.CAPTURED, now)
            excess = self.kept - self.total.amount
            return [self._captured(), *self._give_back_held(excess, Reason.OVERPAYMENT)]
        self.deadline = now + terms.window
        self._move_to(PaymentStatus.PENDING, now)
        reminders = [
            Scheduled(PaymentReminderDue(order_id=self.order_id, number=number), now + offset)
            for number, offset in enumerate(terms.reminders, start=1)
            if offset < terms.window
        ]
        deadline = Scheduled(PaymentDeadlineDue(order_id=self.order_id), self.deadline)
        return [self._pending(), *reminders, deadline]

    def defer(self, now: datetime) -> list[Step]:
        """Cash on delivery: the warehouse may go ahead; the carrier collects."""
        self._move_to(PaymentStatus.DEFERRED, now)
        return [
            PaymentDeferred(
                order_id=self.order_id,
                payment_id=self.payment_id,
                method=self.paid_by,
                amount_due=self.total,
            )
        ]

    # -- money by bank or escrow, and the timers of a pending payment -------------------------

    def receive(
        self, notification: PaymentNotification, now: datetime, hold: timedelta = timedelta(days=7)
    ) -> list[Step]:
        """Money the bank reports: kept up to the order's total while pending, the rest goes back.

        Money for a payment not started yet is held until it starts (or its order is cancelled).
        Money for a payment no longer pending (captured, expired, voided, cancelled) all goes back.
        Money in another currency than the order's (or than money held before the order came) is
        an operator's to look at.
        """
        money = notification.amount
        if self.currency is not None and money.currency != self.currency:
            raise PermanentError(
                f"order {self.order_id}: {money.currency} received for a {self.currency} payment"
            )
        self.currency = money.currency
        held_before = self.kept
        self.captured_amount += money.amount
        self.updated_at = now
        if self.status == PaymentStatus.AWAITING_BOTH and held_before == 0:
            return [Scheduled(PaymentHoldDue(order_id=self.order_id, since=now), now + hold)]
        if self.status in NOT_STARTED:
            return []
        nid = notification.notification_id
        if self.status != PaymentStatus.PENDING:
            return self._give_back(money.amount, Reason.LATE_PAYMENT, nid)
        if self.kept < self.total.amount:
            self._check_books()
            return [self._pending()]
        self._move_to(PaymentStatus.CAPTURED, now)
        excess = self.kept - self.total.amount
        return [self._captured(), *self._give_back(excess, Reason.OVERPAYMENT, nid)]

    def give_back_unclaimed(self, since: datetime) -> list[Step]:
        """Money held for an order payment never heard of, past its hold: it all goes back by
        bank. A payment that has heard of its order holds on: it starts, or is cancelled, soon."""
        if self.status != PaymentStatus.AWAITING_BOTH:
            return []
        refund_id = unclaimed_refund_id(self.payment_id, since)
        return self._refund(self.kept, refund_id, Reason.UNCLAIMED, by_token=False)

    def remind(self, number: int) -> list[Step]:
        if self.status != PaymentStatus.PENDING:
            return []
        return [
            PaymentReminder(
                order_id=self.order_id,
                payment_id=self.payment_id,
                number=number,
                balance=self._money(self.total.amount - self.kept),
                deadline=self._deadline,
                reference=self.payment_id,
            )
        ]

    def expire(self, now: datetime) -> list[Step]:
        """The deadline passed unpaid: whatever part of the money came goes back."""
        if self.status != PaymentStatus.PENDING:
            return []
        self._move_to(PaymentStatus.EXPIRED, now)
        expired = PaymentExpired(
            order_id=self.order_id, payment_id=self.payment_id, method=self.paid_by
        )
        return [expired, *self._give_back(self.kept, Reason.EXPIRED)]

    # -- the order's fate ---------------------------------------------------------------------

    def collect_on_delivery(self, now: datetime) -> list[Step]:
        if self.status != PaymentStatus.DEFERRED:
            return []
        self._move_to(PaymentStatus.CAPTURED, now)
        self.captured_amount += self.total.amount
        return [self._captured()]

    def close(self, reason: Reason, now: datetime) -> list[Step]:
        """The order will not be paid for (cancelled, returned to sender).

        Not started yet: a tombstone, and money held goes back by bank. Pending or deferred:
        voided, and money received goes back. Captured: everything kept goes back. Anything else
        is closed already.
        """
        status = PaymentStatus(self.status)
        if status in WAITING:
            self._move_to(PaymentStatus.CANCELLED, now)
            return self._give_back_held(self.kept, reason)
        if status in (PaymentStatus.PENDING, PaymentStatus.DEFERRED):
            self._move_to(PaymentStatus.VOIDED, now)
            voided = PaymentVoided(
                order_id=self.order_id, payment_id=self.payment_id, reason=reason
            )
            return [voided, *self._give_back(self.kept, reason)]
        if status == PaymentStatus.CAPTURED:
            self._move_to(PaymentStatus.REFUNDED, now)
            return self._give_back(self.kept, reason)
        return []

    # -- after-sales ------------------------------------------------------------------------

    def refund_case(self, request: RefundRequested, now: datetime) -> list[Step]:
        """Give back what after-sales asks for a case: once per case, never more than is kept.

        The money goes back the way it came: to a card's or e-wallet's token, else by bank. The
        payment stays captured while it keeps anything, and is refunded once it keeps nothing. A
        case refunded already changes nothing; a payment that holds no money to refund from is
        an operator's to look at.
        """
        if request.case_id in self.case_refunds:
            return []
        asked = request.amount
        asking = (
            f"order {self.order_id}: case {request.case_id} asks for "
            f"{asked.amount} {asked.currency} back"
        )
        if self.status == PaymentStatus.REFUNDED:
            raise RefundNotPossible(f"{asking}, but all its payment took was given back already")
        if self.status != PaymentStatus.CAPTURED:
            raise RefundNotPossible(f"{asking}, but its payment is {self.status}: nothing captured")
        if asked.currency != self.currency:
            raise RefundNotPossible(f"{asking}, but its payment is in {self.currency}")
        amount = min(asked.amount, self.kept)
        self.case_refunds = {**self.case_refunds, request.case_id: amount}
        refund_id = refund_id_for(self.payment_id, Reason.CASE, request.case_id)
        steps = self._refund(amount, refund_id, request.reason, by_token=self.charged_at_once)
        if self.kept == 0:
            self._move_to(PaymentStatus.REFUNDED, now)
        self.updated_at = now
        return steps

    # -- money ------------------------------------------------------------------------------

    @property
    def kept(self) -> int:
        return self.captured_amount - self.refunded_amount

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

    def _give_back(
        self, amount: int, reason: Reason, notification_id: str | None = None
    ) -> list[Step]:
        """Money back, once per cause: to the token it was charged to, or else by bank (money
        a bank notification brought goes back by bank)."""
        refund_id = refund_id_for(self.payment_id, reason, notification_id)
        by_token = notification_id is None and self.method in CHARGED_AT_ONCE
        return self._refund(amount, refund_id, reason, by_token)

    def _give_back_held(self, amount: int, reason: Reason) -> list[Step]:
        """Money held since before the payment started goes back by bank (it came by bank),
        once per payment and reason."""
        refund_id = refund_id_for(self.payment_id, reason)
        return self._refund(amount, refund_id, reason, by_token=False)

    def _refund(self, amount: int, refund_id: str, reason: str, by_token: bool) -> list[Step]:
        """Book ``amount`` as given back under ``refund_id``, for the handler to pay out."""
        if amount <= 0:
            return []
        request = RefundRequest(
            idempotency_key=refund_id,
            reference=self.order_id,
            amount=self._money(amount),
            reason=reason,
            route=self.paid_by.value if by_token else BANK,
            token=self.token if by_token else None,
        )
        self.refunded_amount += amount
        self._check_books()
        announcement = PaymentRefunded(
            order_id=self.order_id,
            payment_id=self.payment_id,
            refund_id=refund_id,
            amount=request.amount,
            reason=reason,
        )
        return [Refund(request, announcement)]

    def _check_books(self) -> None:
        """Refunded never exceeds captured; kept never exceeds the total (a bug if it does)."""
        if not 0 <= self.refunded_amount <= self.captured_amount:
            raise RuntimeError(
                f"payment {self.payment_id}: refunded {self.refunded_amount} "
                f"> captured {self.captured_amount}"
            )
        if self.amount is not None and self.kept > self.amount:
            raise RuntimeError(f"payment {self.payment_id}: keeps {self.kept} of {self.amount}")

    # -- announcements and bookkeeping ------------------------------------------------------

    def _captured(self) -> PaymentCaptured:
        return PaymentCaptured(
            order_id=self.order_id,
            payment_id=self.payment_id,
            method=self.paid_by,
            amount=self.total,
        )

    def _pending(self) -> PaymentPending:
        return PaymentPending(
            order_id=self.order_id,
            payment_id=self.payment_id,
            method=self.paid_by,
            amount_due=self.total,
            received=self._money(self.kept),
            deadline=self._deadline,
            reference=self.payment_id,
        )

    def _money(self, amount: int) -> Money:
        if self.currency is None:
            raise RuntimeError(f"payment {self.payment_id} has no currency yet")
        return Money(amount=amount, currency=self.currency)

    @property
    def _deadline(self) -> datetime:
        if self.deadline is None:
            raise RuntimeError(f"payment {self.payment_id} has no deadline")
        return self.deadline

    def _record_intent(self, order: OrderPlaced) -> None:
        self.method = order.payment.method
        self.token = order.payment.token
        self.amount = order.total
        self.currency = order.currency
        self.held = order.held_for_review

    def _move_to(self, status: PaymentStatus, now: datetime) -> None:
        PAYMENT_MACHINE.check(f"payment {self.order_id}", self.status, status)
        self.status = status
        self.updated_at = now
