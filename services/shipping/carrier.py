"""The carrier, a third party: the port shipping books through, and a simulated one.

A real carrier answers a booking with a tracking number and later calls back with tracking
updates (``carrier.tracking_update`` commands). The simulated carrier answers at once and
returns its future scans as scheduled messages, which the runtime fires into shipping's own
handler when they are due, as if the carrier had called.

The simulated carrier delivers every parcel, except to an address whose first line contains
``REFUSED`` (upper case, anywhere in ``line1``: e.g. "12 REFUSED Street"), where nobody ever
accepts it. That is how demos and tests exercise failed deliveries: such a booking schedules
an ``in_transit`` scan, then one ``delivery_failed`` scan per attempt (``delivery_attempts``,
the first when a delivery would have been made, each next one ``retry_interval`` later) and,
``retry_interval`` after the last attempt, a ``returned`` scan: the parcels are back at the
warehouse.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from shared.clock import Clock
from shared.contracts import Address, CarrierTrackingUpdate, Money, Parcel, TrackingStatus
from shared.timers import Scheduled

TRACKING_PREFIXES = {"DHL": "DHL", "DPD": "DPD", "UPS": "1Z", "PUDO": "PUDO"}
TRACKING_DIGITS = 16
REFUSING = "REFUSED"
"""The simulated carrier never manages to deliver to an address whose ``line1`` contains this."""


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
    cash_on_delivery: Money | None = None
    """What the carrier collects from the customer on delivery (the order's total, in the
    order's currency), or None for a prepaid order."""


@dataclass(frozen=True)
class Booking:
    tracking_number: str
    expected_delivery: date
    scheduled_updates: tuple[Scheduled, ...] = ()


class Carrier(Protocol):
    def book(self, request: BookingRequest) -> Booking: ...


class SimulatedCarrier:
    """Books instantly; the parcel is in transit after a fixed delay and delivered after
    ``delivered_after`` or, if that is None, the booked service's transit days; at a refusing
    address it fails ``delivery_attempts`` times instead and goes back to the sender."""

    def __init__(
        self,
        clock: Clock,
        in_transit_after: timedelta,
        delivered_after: timedelta | None,
        delivery_attempts: int = 3,
        retry_interval: timedelta = timedelta(days=1),
    ) -> None:
        if delivery_attempts < 1:
            raise ValueError("a carrier tries to deliver at least once")
        self.clock = clock
        self.in_transit_after = in_transit_after
        self.delivered_after = delivered_after
        self.delivery_attempts = delivery_attempts
        self.retry_interval = retry_interval

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

        delivered_after = self.delivered_after
        if delivered_after is None:
            delivered_after = timedelta(days=request.transit_days)
        scans = [scan(TrackingStatus.IN_TRANSIT, min(self.in_transit_after, delivered_after))]
        if refuses(request.address):
            attempts = [
                delivered_after + n * self.retry_interval for n in range(self.delivery_attempts)
            ]
            scans += [scan(TrackingStatus.DELIVERY_FAILED, after) for after in attempts]
            scans.append(scan(TrackingStatus.RETURNED, attempts[-1] + self.retry_interval))
        else:
            scans.append(scan(TrackingStatus.DELIVERED, delivered_after))
        return Booking(
            tracking_number=tracking_number,
            expected_delivery=(now + timedelta(days=request.transit_days)).date(),
            scheduled_updates=tuple(scans),
        )


def refuses(address: Address) -> bool:
    """Whether the simulated carrier will fail every delivery to ``address``."""
    return REFUSING in address.line1


def tracking_number_for(carrier: str, shipment_id: str) -> str:
    """The carrier's prefix and 16 digits hashed from the idempotency key: a retried booking
    gets the same number on any replica, with no memory to share; two shipments collide with
    odds of about one in 10**16 per pair (the unique index on tracking numbers would refuse it)."""
    digest = int.from_bytes(hashlib.sha256(shipment_id.encode()).digest()[:8], "big")
    digits = str(digest % 10**TRACKING_DIGITS).zfill(TRACKING_DIGITS)
    return TRACKING_PREFIXES.get(carrier, carrier[:3].upper()) + digits
