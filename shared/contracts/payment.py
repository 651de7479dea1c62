"""Payment's announcements. Tokens only: a card number never enters a message."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import Money, OrderMessage
from .orders import PaymentMethod


class PaymentCaptured(OrderMessage):
    """The customer's money was taken (card or e-wallet charge, or a transfer or escrow paid in
    full): the warehouse may pick and pack."""

    type: ClassVar[str] = "payment.captured"

    payment_id: str
    method: PaymentMethod
    amount: Money


class PaymentFailed(OrderMessage):
    """The gateway declined the charge (``reason`` is its decline reason): stock releases, intake
    cancels."""

    type: ClassVar[str] = "payment.failed"

    payment_id: str
    method: PaymentMethod
    reason: str


class PaymentPending(OrderMessage):
    """Waiting for the customer's money (bank transfer, escrow); reminders follow."""

    type: ClassVar[str] = "payment.pending"

    payment_id: str
    method: PaymentMethod
    amount_due: Money
    received: Money
    deadline: datetime
    reference: str


class PaymentReminderDue(OrderMessage):
    """Payment's timer: remind the customer if the money has not arrived."""

    type: ClassVar[str] = "payment.reminder_due"
    kind: ClassVar[Literal["timer"]] = "timer"

    number: int


class PaymentDeadlineDue(OrderMessage):
    """Payment's timer: the deadline for an unpaid order."""

    type: ClassVar[str] = "payment.deadline_due"
    kind: ClassVar[Literal["timer"]] = "timer"


class PaymentHoldDue(OrderMessage):
    """Payment's timer for money the bank reported for an order it has not heard of: unclaimed
    by ``since`` plus the payment window, it goes back."""

    type: ClassVar[str] = "payment.hold_due"
    kind: ClassVar[Literal["timer"]] = "timer"

    since: datetime


class PaymentReminder(OrderMessage):
    """The customer's transfer has not arrived (or not all of it): the ``number``-th reminder of
    the ``balance`` still due by ``deadline``."""

    type: ClassVar[str] = "payment.reminder"

    payment_id: str
    number: int
    balance: Money
    deadline: datetime
    reference: str


class PaymentExpired(OrderMessage):
    """The deadline passed unpaid: stock releases, intake cancels."""

    type: ClassVar[str] = "payment.expired"

    payment_id: str
    method: PaymentMethod


class PaymentDeferred(OrderMessage):
    """Cash on delivery: the warehouse may go ahead; the carrier collects."""

    type: ClassVar[str] = "payment.deferred"

    payment_id: str
    method: PaymentMethod
    amount_due: Money


class PaymentNotification(OrderMessage):
    """The bank or escrow service reports money received for an order's reference."""

    type: ClassVar[str] = "payment.notification"
    kind: ClassVar[Literal["command"]] = "command"

    notification_id: Annotated[str, Field(min_length=1, max_length=100)]
    amount: Money
    received_at: datetime


class PaymentRefunded(OrderMessage):
    """Money went back to the customer: ``reason`` says why (a cancel, a return, an overpayment,
    …)."""

    type: ClassVar[str] = "payment.refunded"

    payment_id: str
    refund_id: str
    amount: Money
    reason: str


class PaymentVoided(OrderMessage):
    """A payment that never took money is closed (cash on delivery not collected, a pending
    transfer for a cancelled order)."""

    type: ClassVar[str] = "payment.voided"

    payment_id: str
    reason: str
