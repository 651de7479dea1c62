"""Payment's announcements. Tokens only: a card number never enters a message."""

from __future__ import annotations

from typing import ClassVar

from .base import Money, OrderMessage
from .orders import PaymentMethod


class PaymentCaptured(OrderMessage):
    type: ClassVar[str] = "payment.captured"

    payment_id: str
    method: PaymentMethod
    amount: Money


class PaymentFailed(OrderMessage):
    type: ClassVar[str] = "payment.failed"

    payment_id: str
    method: PaymentMethod
    reason: str
