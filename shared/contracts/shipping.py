"""Shipping's announcements and the carriers' tracking updates."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from .base import Money, OrderMessage
from .orders import Address


class TrackingStatus(StrEnum):
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    RETURNED = "returned"


class ShipmentDispatched(OrderMessage):
    """The parcels are booked with a carrier and handed over: the tracking number and the date
    the customer can expect them."""

    type: ClassVar[str] = "shipment.dispatched"

    shipment_id: str
    carrier: str
    service: str
    tracking_number: str
    expected_delivery: date
    cost: Money = Field(
        description="What the carrier charges us for the parcels, from the rate card, in the "
        "rate card's currency (EUR): shipping's cost, not the customer's shipping fee."
    )
    cash_on_delivery: Money | None = Field(
        default=None,
        description="For cash on delivery: what the carrier collects from the customer, the "
        "order's total in the order's currency.",
    )


class ShipmentInTransit(OrderMessage):
    """The carrier scanned the parcels on their way."""

    type: ClassVar[str] = "shipment.in_transit"

    shipment_id: str
    tracking_number: str


class ShipmentDelivered(OrderMessage):
    """The carrier delivered the parcels: the complaint window (and the return window) starts."""

    type: ClassVar[str] = "shipment.delivered"

    shipment_id: str
    tracking_number: str
    delivered_at: datetime


class ShipmentDeliveryFailed(OrderMessage):
    """The carrier could not deliver (refused, not found, returned to sender): compensate."""

    type: ClassVar[str] = "shipment.delivery_failed"

    shipment_id: str
    tracking_number: str
    failed_at: datetime


class CarrierTrackingUpdate(OrderMessage):
    """A carrier reports on a parcel; ``order_id`` is the shipper reference it echoes back."""

    type: ClassVar[str] = "carrier.tracking_update"
    kind: ClassVar[Literal["command"]] = "command"

    tracking_number: str
    status: TrackingStatus
    at: datetime


class ShipmentReturned(OrderMessage):
    """After failed delivery attempts the parcels came back to the warehouse: compensate."""

    type: ClassVar[str] = "shipment.returned"

    shipment_id: str
    tracking_number: str
    returned_at: datetime
    attempts: int


class ShipmentAddressChanged(OrderMessage):
    """Shipping will deliver to this address from now on."""

    type: ClassVar[str] = "shipment.address_changed"

    address: Address
    pickup_point_id: str | None = None


class ShipmentAddressChangeRefused(OrderMessage):
    """Shipping refused a new address: the parcels are already booked or the order was
    cancelled."""

    type: ClassVar[str] = "shipment.address_change_refused"

    reason: str
