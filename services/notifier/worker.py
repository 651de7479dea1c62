"""Notifier's bootstrap: its tables, its handler table and their dependencies."""

from __future__ import annotations

from shared.clock import Clock, SystemClock
from shared.handlers import Service, inject

from .handlers import HANDLERS
from .model import Base
from .rendering import BUNDLED_TEMPLATES, make_environment
from .settings import NotifierSettings
from .store import NotifierUnitOfWork

NAME = "notifier"


def bootstrap(clock: Clock | None = None, settings: NotifierSettings | None = None) -> Service:
    settings = settings or NotifierSettings()
    templates = make_environment(settings.templates_dir or BUNDLED_TEMPLATES)
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=NotifierUnitOfWork,
        handlers=inject(HANDLERS, clock=clock or SystemClock(), templates=templates),
    )
