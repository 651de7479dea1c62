"""Payment's bootstrap: its tables, its handler table and their dependencies."""

from __future__ import annotations

from shared.clock import Clock, SystemClock
from shared.handlers import Service, inject

from .gateway import SimulatedGateway
from .handlers import HANDLERS
from .model import Base, PaymentTerms
from .settings import PaymentSettings
from .store import PaymentUnitOfWork

NAME = "payment"


def bootstrap(clock: Clock | None = None, settings: PaymentSettings | None = None) -> Service:
    settings = settings or PaymentSettings()
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=PaymentUnitOfWork,
        handlers=inject(
            HANDLERS,
            clock=clock or SystemClock(),
            gateway=SimulatedGateway(settings.gateway_transient_failures),
            terms=PaymentTerms(settings.window, settings.reminder_offsets),
        ),
    )
