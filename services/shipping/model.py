"""Shipping's domain: one shipment per order, from its two halves to the carrier's last scan.

A shipment is booked once both halves are known, in whichever order they arrive: the customer's
delivery request (``order.placed``; for an after-sales replacement, ``replacement.requested``,
whose order id is the case id) and the packed parcels (``fulfillment.packed``). Until then
the address may change (a change that comes before the request waits for it) and the order may
be cancelled, which leaves a tombstone: nothing is booked for it later. Booking hands the
parcels to the carrier, so from then on an address change is refused and a cancel changes
nothing. After booking the status only moves forward, by the carrier's scans; a scan that would
not move it forward changes nothing::

    pending ──► booked ──► in_transit ──► delivered
       │          │            │              ▲
       │          │            ▼              │
       │          └──────► delivery_failed ───┘   a later attempt may still succeed
       │          │         │   ▲   │
       │          │         └───┘   │             one scan per failed attempt
       │          │                 ▼
       │          └─────────────► returned         back to the sender, after the last attempt
       └──► cancelled

A carrier may skip scans: ``booked`` and ``in_transit`` lead to every later status.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import (
    Delivery,
    Message,
    Money,
    OrderChangeAddress,
    Parcel,
    ShipmentAddressChanged,
    ShipmentAddressChangeRefused,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentInTransit,
    ShipmentReturned,
    TrackingStatus,
)
from shared.database import TypedJson, UtcDateTime
from shared.states import StateMachine

from .carrier import Booking
from .rates import CURRENCY, Quote

ALREADY_DISPATCHED = "already_dispatched"
ORDER_CANCELLED = "order_cancelled"


class Base(DeclarativeBase):
    pass


class ShipmentStatus(StrEnum):
    PENDING = "pending"
    BOOKED = "booked"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    RETURNED = "returned"
    CANCELLED = "cancelled"


S = ShipmentStatus
_ENDS = frozenset({S.DELIVERED, S.DELIVERY_FAILED, S.RETURNED})
SHIPMENT_MACHINE = StateMachine(
    ShipmentStatus,
    {
        S.PENDING: {S.BOOKED, S.CANCELLED},
        S.BOOKED: _ENDS | {S.IN_TRANSIT},
        S.IN_TRANSIT: _ENDS,
        S.DELIVERY_FAILED: _ENDS,
    },
    initial={S.PENDING},
    terminal={S.DELIVERED, S.RETURNED, S.CANCELLED},
)


class Shipment(Base):
    __tablename__ = "shipments"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    shipment_id: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    delivery: Mapped[Delivery | None] = mapped_column(TypedJson(Delivery))
    parcels: Mapped[list[Parcel] | None] = mapped_column(TypedJson(list[Parcel]))
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    carrier: Mapped[str | None] = mapped_column(String(16))
    service: Mapped[str | None] = mapped_column(String(32))
    tracking_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    expected_delivery: Mapped[date | None] = mapped_column(Date)
    cost: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    """The cost's: the rate card's currency, not the order's."""
    collect_amount: Mapped[int | None] = mapped_column(Integer)
    collect_currency: Mapped[str | None] = mapped_column(String(3))
    """Cash on delivery: what the carrier collects, the order's total in its currency."""
    booked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    in_transit_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """When the last failed attempt was."""
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    address_change: Mapped[OrderChangeAddress | None] = mapped_column(TypedJson(OrderChangeAddress))
    """An ``order.change_address`` that came before the delivery request, kept until it comes."""
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    @classmethod
    def open(cls, order_id: str) -> Shipment:
        """The id derives from the order, so a retried booking uses the same idempotency key."""
        return cls(
            order_id=order_id,
            shipment_id=f"shp-{order_id}",
            status=S.PENDING,
            failed_attempts=0,
        )

    def keep_request(self, delivery: Delivery, collect: Money | None = None) -> bool:
        """Keep the delivery request, and for cash on delivery what the carrier collects; False
        if it is known already, or the shipment is booked or cancelled."""
        if self.status != S.PENDING or self.delivery is not None:
            return False
        self.delivery = delivery
        if collect is not None:
            self.collect_amount, self.collect_currency = collect.amount, collect.currency
        return True

    @property
    def cash_on_delivery(self) -> Money | None:
        """What the carrier collects on delivery, in the order's currency; None if prepaid."""
        if self.collect_amount is None or self.collect_currency is None:
            return None
        return Money(amount=self.collect_amount, currency=self.collect_currency)

    def apply_waiting_address_change(self) -> list[ShipmentAddressChanged]:
        """Once the request is kept, the address change that came before it, if any."""
        waiting, self.address_change = self.address_change, None
        if waiting is None or self.delivery is None:
            return []
        return [self._change_address(waiting)]

    def change_address(self, change: OrderChangeAddress) -> Message | None:
        """A new address, until the parcels are booked; kept for later (and None returned) if
        the delivery request has not come yet, the latest change winning. A new pickup point
        replaces the old one; none keeps it."""
        if self.status == S.CANCELLED:
            return ShipmentAddressChangeRefused(order_id=self.order_id, reason=ORDER_CANCELLED)
        if self.status != S.PENDING:
            return ShipmentAddressChangeRefused(order_id=self.order_id, reason=ALREADY_DISPATCHED)
        if self.delivery is None:
            self.address_change = change
            return None
        return self._change_address(change)

    def _change_address(self, change: OrderChangeAddress) -> ShipmentAddressChanged:
        current = self.requested
        changed = Delivery(
            option=current.option,
            address=change.address,
            pickup_point_id=change.pickup_point_id or current.pickup_point_id,
        )
        self.delivery = changed
        return ShipmentAddressChanged(
            order_id=self.order_id, address=changed.address, pickup_point_id=changed.pickup_point_id
        )

    def cancel(self, reason: str) -> bool:
        """The order ended before booking: nothing will be booked for it. False once booked
        (the carrier has the parcels) or cancelled already."""
        if not SHIPMENT_MACHINE.can(self.status, S.CANCELLED):
            return False
        self._move(S.CANCELLED)
        self.cancel_reason = reason
        return True

    def keep_parcels(self, parcels: list[Parcel]) -> bool:
        """Keep the packed parcels; False if they are known already, or the shipment is booked
        or cancelled."""
        if self.status != S.PENDING or self.parcels is not None:
            return False
        self.parcels = parcels
        self.weight_grams = sum(parcel.weight_grams for parcel in parcels)
        return True

    @property
    def ready_to_book(self) -> bool:
        return self.status == S.PENDING and self.delivery is not None and self.parcels is not None

    @property
    def requested(self) -> Delivery:
        if self.delivery is None:
            raise RuntimeError(f"{self.shipment_id} has no delivery request yet")
        return self.delivery

    @property
    def packed(self) -> list[Parcel]:
        return self.parcels or []

    def book(self, quote: Quote, booking: Booking, at: datetime) -> ShipmentDispatched:
        self._move(S.BOOKED)
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
            cash_on_delivery=self.cash_on_delivery,
        )

    def track(self, scan: TrackingStatus, at: datetime) -> Message | None:
        """Apply a carrier's scan; its announcement if it moved the shipment forward. Each
        failed attempt is announced; a failure scan no later than the last one is a repeat."""
        status = S(scan.value)
        tracking_number = self.tracking_number
        if tracking_number is None or not SHIPMENT_MACHINE.can(self.status, status):
            return None
        if status == S.DELIVERY_FAILED and self.failed_at is not None and at <= self.failed_at:
            return None
        self._move(status)
        announced = {
            "order_id": self.order_id,
            "shipment_id": self.shipment_id,
            "tracking_number": tracking_number,
        }
        if status == S.IN_TRANSIT:
            self.in_transit_at = at
            return ShipmentInTransit.model_validate(announced)
        if status == S.DELIVERED:
            self.delivered_at = at
            return ShipmentDelivered.model_validate({**announced, "delivered_at": at})
        if status == S.RETURNED:
            self.returned_at = at
            return ShipmentReturned.model_validate(
                {**announced, "returned_at": at, "attempts": self.failed_attempts}
            )
        self.failed_at = at
        self.failed_attempts += 1
        return ShipmentDeliveryFailed.model_validate({**announced, "failed_at": at})

    def _move(self, status: ShipmentStatus) -> None:
        SHIPMENT_MACHINE.check(f"shipment {self.shipment_id}", self.status, status)
        self.status = status
