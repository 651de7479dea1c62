"""Shipping's bootstrap: its tables, its handler table, what it publishes and their dependencies."""

from __future__ import annotations

from shared.clock import Clock, SystemClock
from shared.contracts import (
    Message,
    ShipmentAddressChanged,
    ShipmentAddressChangeRefused,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentInTransit,
    ShipmentReturned,
)
from shared.service import Service, inject

from .carrier import Carrier, SimulatedCarrier
from .handlers import HANDLERS
from .model import Base
from .rates import RateCard
from .settings import ShippingSettings
from .store import ShippingUnitOfWork

NAME = "shipping"
PUBLISHES: frozenset[type[Message]] = frozenset(
    {
        ShipmentAddressChanged,
        ShipmentAddressChangeRefused,
        ShipmentDelivered,
        ShipmentDeliveryFailed,
        ShipmentDispatched,
        ShipmentInTransit,
        ShipmentReturned,
    }
)


def bootstrap(
    clock: Clock | None = None,
    settings: ShippingSettings | None = None,
    carrier: Carrier | None = None,
) -> Service:
    clock = clock or SystemClock()
    settings = settings or ShippingSettings()
    carrier = carrier or SimulatedCarrier(
        clock,
        settings.in_transit_after,
        settings.delivered_after,
        delivery_attempts=settings.delivery_attempts,
        retry_interval=settings.delivery_retry_interval,
    )
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=ShippingUnitOfWork,
        handlers=inject(
            HANDLERS, clock=clock, carrier=carrier, rate_card=RateCard(settings.warehouse_country)
        ),
        publishes=PUBLISHES,
    )
