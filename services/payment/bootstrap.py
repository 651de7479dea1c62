"""Payment's bootstrap: its tables, its handler table, what it publishes and their dependencies."""

from __future__ import annotations

from shared.clock import Clock, SystemClock
from shared.contracts import (
    Message,
    PaymentCaptured,
    PaymentDeferred,
    PaymentExpired,
    PaymentFailed,
    PaymentPending,
    PaymentRefunded,
    PaymentReminder,
    PaymentVoided,
)
from shared.service import Service, inject

from .gateway import SimulatedGateway
from .handlers import HANDLERS
from .model import Base, PaymentTerms
from .settings import PaymentSettings
from .store import PaymentUnitOfWork

NAME = "payment"
PUBLISHES: frozenset[type[Message]] = frozenset(
    {
        PaymentCaptured,
        PaymentDeferred,
        PaymentExpired,
        PaymentFailed,
        PaymentPending,
        PaymentRefunded,
        PaymentReminder,
        PaymentVoided,
    }
)


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
        publishes=PUBLISHES,
    )
