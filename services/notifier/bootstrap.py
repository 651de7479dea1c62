"""Notifier's bootstrap: its tables, its handler table, what it publishes, its courier."""

from __future__ import annotations

from shared.clock import Clock, SystemClock
from shared.contracts import Message, NotificationSent
from shared.service import Service, inject

from .delivery import Courier
from .handlers import HANDLERS
from .model import Base
from .rendering import BUNDLED_TEMPLATES, make_environment
from .settings import NotifierSettings
from .store import NotifierUnitOfWork
from .transports import MaildirTransport, SmtpTransport, Transport

NAME = "notifier"
PUBLISHES: frozenset[type[Message]] = frozenset({NotificationSent})
"""Announced by the courier once an e-mail is sent, not by a handler."""


def bootstrap(clock: Clock | None = None, settings: NotifierSettings | None = None) -> Service:
    settings = settings or NotifierSettings()
    clock = clock or SystemClock()
    templates = make_environment(settings.templates_dir or BUNDLED_TEMPLATES)
    courier = Courier(
        transport(settings),
        settings.sender,
        clock,
        settings.send_batch_size,
        settings.send_lease,
        settings.longest_send,
        lanes=settings.send_lanes,
    )
    return Service(
        name=NAME,
        metadata=Base.metadata,
        unit_of_work=NotifierUnitOfWork,
        handlers=inject(HANDLERS, clock=clock, templates=templates),
        publishes=PUBLISHES,
        after_commit=courier,
    )


def transport(settings: NotifierSettings) -> Transport:
    """SMTP when a host is configured; otherwise the maildir, so the demo needs nothing."""
    if settings.smtp_host is None:
        return MaildirTransport(settings.maildir)
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpTransport(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=password,
        timeout=settings.smtp_timeout_seconds,
    )
