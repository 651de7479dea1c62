"""The warehouse's bootstrap: its tables, its handler table, what it publishes, its dependencies."""

from __future__ import annotations

from datetime import timedelta

from shared.clock import Clock, SystemClock
from shared.contracts import (
    FulfillmentCancelled,
    FulfillmentCancelRefused,
    FulfillmentPacked,
    Message,
)
from shared.service import Service, inject

from .handlers import HANDLERS
from .model import Base
from .packing import PackingRules
from .settings import WarehouseSettings
from .store import WarehouseUnitOfWork

NAME = "warehouse"
PUBLISHES: frozenset[type[Message]] = frozenset(
    {
        FulfillmentCancelled,
        FulfillmentCancelRefused,
        FulfillmentPacked,
    }
)


def bootstrap(clock: Clock | None = None, settings: WarehouseSettings | None = None) -> Service:
    settings = settings or WarehouseSettings()
    packing = PackingRules(
        max_parcel_grams=settings.max_parcel_weight_grams,
        packaging_grams=settings.packaging_weight_grams,
    )
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=WarehouseUnitOfWork,
        handlers=inject(
            HANDLERS,
            clock=clock or SystemClock(),
            packing=packing,
            packing_time=timedelta(seconds=settings.packing_seconds),
        ),
        publishes=PUBLISHES,
    )
