"""Shipping's domain: one shipment per order, from its two halves to the carrier's last scan.

A shipment is booked once both halves are known, in whichever order they arrive: the customer's
delivery request (``order.placed``) and the packed parcels (``fulfillment.packed``). From then on
its status only moves forward; a scan that would not move it forward changes nothing::

    pending ──► booked ──► in_transit ──► delivered | delivery_failed
                  └───────────────────► delivered | delivery_failed   (a carrier may skip a scan)
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Date, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import (
    Delivery,
    Message,
    Money,
    Parcel,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentInTransit,
    TrackingStatus,
)
from shared.database import UtcDateTime

from .carrier import Booking
from .rates import CURRENCY, Quote


class Base(DeclarativeBase):
    pass


class ShipmentStatus(StrEnum):
    PENDING = "pending"
    BOOKED = "booked"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"


_ENDS = frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.DELIVERY_FAILED})
FORWARD: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.PENDING: frozenset({ShipmentStatus.BOOKED}),
    ShipmentStatus.BOOKED: _ENDS | {ShipmentStatus.IN_TRANSIT},
    ShipmentStatus.IN_TRANSIT: _ENDS,
    ShipmentStatus.DELIVERED: frozenset(),
    ShipmentStatus.DELIVERY_FAILED: frozenset(),
}


class Shipment(Base):
    __tablename__ = "shipments"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    shipment_id: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    delivery: Mapped[dict[str, object] | None] = mapped_column(JSON)
    parcels: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    carrier: Mapped[str | None] = mapped_column(String(16))
    service: Mapped[str | None] = mapped_column(String(32))
    tracking_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    expected_delivery: Mapped[date | None] = mapped_column(Date)
    cost: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    booked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    in_transit_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    @classmethod
    def open(cls, order_id: str) -> Shipment:
        """The id derives from the order, so a retried booking uses the same idempotency key."""
        return cls(order_id=order_id, shipment_id=f"shp-{order_id}", status=ShipmentStatus.PENDING)

    def keep_request(self, delivery: Delivery) -> bool:
        """Keep the delivery request; False if it is known already or the shipment is booked."""
        if self.status != ShipmentStatus.PENDING or self.delivery is not None:
            return False
        self.delivery = delivery.model_dump(mode="json")
        return True

    def keep_parcels(self, parcels: list[Parcel]) -> bool:
        """Keep the packed parcels; False if they are known already or the shipment is booked."""
        if self.status != ShipmentStatus.PENDING or self.parcels is not None:
            return False
        self.parcels = [parcel.model_dump(mode="json") for parcel in parcels]
        self.weight_grams = sum(parcel.weight_grams for parcel in parcels)
        return True

    @property
    def ready_to_book(self) -> bool:
        return (
            self.status == ShipmentStatus.PENDING
            and self.delivery is not None
            and self.parcels is not None
        )

    @property
    def requested(self) -> Delivery:
        return Delivery.model_validate(self.delivery)

    @property
    def packed(self) -> list[Parcel]:
        return [Parcel.model_validate(parcel) for parcel in self.parcels or []]

    def book(self, quote: Quote, booking: Booking, at: datetime) -> ShipmentDispatched:
        self._move(ShipmentStatus.BOOKED)
        self.carrier, self.service = quote.carrier, quote.service
        self.cost, self.currency = quote.cost, CURRENCY
        self.tracking_number = booking.tracking_number
        self.expected_delivery = booking.expected_delivery
        self.booked_at = at
        return ShipmentDispatched(
            order_id=self.order_id,
            shipment_id=self.shipment_id,
            carrier=quote.carrier,
            service=quote.service,
            tracking_number=booking.tracking_number,
            expected_delivery=booking.expected_delivery,
            cost=Money(amount=quote.cost, currency=CURRENCY),
        )

    def track(self, scan: TrackingStatus, at: datetime) -> Message | None:
        """Apply a carrier's scan; its announcement if it moved the shipment forward."""
        status = ShipmentStatus(scan.value)
        tracking_number = self.tracking_number
        if tracking_number is None or status not in FORWARD[ShipmentStatus(self.status)]:
            return None
        self._move(status)
        announced = {
            "order_id": self.order_id,
            "shipment_id": self.shipment_id,
            "tracking_number": tracking_number,
        }
        if status == ShipmentStatus.IN_TRANSIT:
            self.in_transit_at = at
            return ShipmentInTransit.model_validate(announced)
        if status == ShipmentStatus.DELIVERED:
            self.delivered_at = at
            return ShipmentDelivered.model_validate({**announced, "delivered_at": at})
        self.failed_at = at
        return ShipmentDeliveryFailed.model_validate({**announced, "failed_at": at})

    def _move(self, status: ShipmentStatus) -> None:
        if status not in FORWARD[ShipmentStatus(self.status)]:
            raise ValueError(f"{self.shipment_id} cannot go from {self.status} to {status}")
        self.status = status
