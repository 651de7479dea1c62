"""After-sales' domain: the return window each delivered order opens."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import ShipmentDelivered
from shared.database import UtcDateTime


class Base(DeclarativeBase):
    pass


class ReturnWindow(Base):
    """An order may be returned from its delivery until ``returnable_until``, inclusive."""

    __tablename__ = "return_windows"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    shipment_id: Mapped[str] = mapped_column(String(80))
    delivered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    returnable_until: Mapped[datetime] = mapped_column(UtcDateTime())

    @classmethod
    def after(cls, delivery: ShipmentDelivered, length: timedelta) -> ReturnWindow:
        return cls(
            order_id=delivery.order_id,
            shipment_id=delivery.shipment_id,
            delivered_at=delivery.delivered_at,
            returnable_until=delivery.delivered_at + length,
        )

    def allows_return_at(self, at: datetime) -> bool:
        return self.delivered_at <= at <= self.returnable_until
