"""The bank's and escrow service's notifications, each recorded once by its notification id.

The inbox already skips a redelivered envelope; a bank that reports the same payment twice sends
two envelopes with one notification id, and this table is what makes the second change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.contracts import PaymentNotification
from shared.database import UtcDateTime

from .model import Base, Step
from .money import Refund


class Receipt(Base):
    """Money received: how much, and how much of it went back at once (overpaid, or late).

    Money held since before its payment started goes back later if at all (when the payment
    starts or its order is cancelled), by a refund of the payment's, not of this receipt's.
    """

    __tablename__ = "payment_receipts"

    notification_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    returned: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @classmethod
    def of(cls, notification: PaymentNotification, steps: Sequence[Step], now: datetime) -> Receipt:
        return cls(
            notification_id=notification.notification_id,
            order_id=notification.order_id,
            amount=notification.amount.amount,
            currency=notification.amount.currency,
            returned=sum(s.request.amount.amount for s in steps if isinstance(s, Refund)),
            received_at=notification.received_at,
            recorded_at=now,
        )
