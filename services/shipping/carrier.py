"""The carrier, a third party: the port shipping books through, and a simulated one.

A real carrier answers a booking with a tracking number and later calls back with tracking
updates (``carrier.tracking_update`` commands). The simulated carrier answers at once and
returns its future scans as scheduled messages, which the runtime fires into shipping's own
handler when they are due, as if the carrier had called.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from shared.clock import Clock
from shared.contracts import Address, CarrierTrackingUpdate, Parcel, TrackingStatus
from shared.timers import Scheduled

TRACKING_PREFIXES = {"DHL": "DHL", "DPD": "DPD", "UPS": "1Z", "PUDO": "PUDO"}
TRACKING_DIGITS = 16


@dataclass(frozen=True)
class BookingRequest:
    """``shipment_id`` is the idempotency key: booking it again returns the same booking."""

    shipment_id: str
    order_id: str
    carrier: str
    service: str
    transit_days: int
    address: Address
    pickup_point_id: str | None
    parcels: list[Parcel]


@dataclass(frozen=True)
class Booking:
    tracking_number: str
    expected_delivery: date
    scheduled_updates: tuple[Scheduled, ...] = ()


class Carrier(Protocol):
    def book(self, request: BookingRequest) -> Booking: ...


class SimulatedCarrier:
    """Books instantly; the parcel is in transit and delivered after fixed delays."""

    def __init__(self, clock: Clock, in_transit_after: timedelta, delivered_after: timedelta):
        self.clock = clock
        self.in_transit_after = in_transit_after
        self.delivered_after = delivered_after

    def book(self, request: BookingRequest) -> Booking:
        now = self.clock.now()
        tracking_number = tracking_number_for(request.carrier, request.shipment_id)

        def scan(status: TrackingStatus, after: timedelta) -> Scheduled:
            update = CarrierTrackingUpdate(
                order_id=request.order_id,
                tracking_number=tracking_number,
                status=status,
                at=now + after,
            )
            return Scheduled(update, due=now + after)

        return Booking(
            tracking_number=tracking_number,
            expected_delivery=(now + timedelta(days=request.transit_days)).date(),
            scheduled_updates=(
                scan(TrackingStatus.IN_TRANSIT, self.in_transit_after),
                scan(TrackingStatus.DELIVERED, self.delivered_after),
            ),
        )


def tracking_number_for(carrier: str, shipment_id: str) -> str:
    """The carrier's prefix and 16 digits hashed from the idempotency key: a retried booking
    gets the same number on any replica, with no memory to share; two shipments collide with
    odds of about one in 10**16 per pair (the unique index on tracking numbers would refuse it)."""
    digest = int.from_bytes(hashlib.sha256(shipment_id.encode()).digest()[:8], "big")
    digits = str(digest % 10**TRACKING_DIGITS).zfill(TRACKING_DIGITS)
    return TRACKING_PREFIXES.get(carrier, carrier[:3].upper()) + digits
