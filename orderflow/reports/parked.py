"""The report's parked messages: every worker's parking lot read as ``orderflow parking list``
reads it (each message taken without an ack and put back, in the order it was read, when the
reading ends), and counted by the time its headers say it was parked.

Parked messages live on the broker, not in reporting's read model, so a report made without the
broker cannot know them: it says so (``Unread``) rather than print a zero."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared.brokers import BrokerUrlError
from shared.settings import LocalBroker, Settings

from ..operator.parking import Filters, ParkedMessage, ParkingError, list_parked


@dataclass(frozen=True)
class Parked:
    """The messages parked in the period, per worker and per reason (the ``x-orderflow-kind``
    the worker gave: malformed, invalid, handler_error, ...; the free text is per message)."""

    by_worker: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    undated: int = 0
    """Messages in the lots whose headers say no time: no period can count them."""

    @property
    def count(self) -> int:
        return sum(self.by_worker.values())


@dataclass(frozen=True)
class Unread:
    """Why the report has no parked figure."""

    why: str


READ_MODEL_ONLY = Unread("not read: these figures come from reporting's read model alone")
ONE_CHANNEL = Unread("not counted for one channel: a parked message names no sales channel")


def count_parked(messages: Iterable[ParkedMessage], since: datetime, until: datetime) -> Parked:
    """The messages parked from ``since`` (included) to ``until`` (excluded)."""
    by_worker: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    undated = 0
    for message in messages:
        at = message.parked_at
        if at is None:
            undated += 1
        elif since <= at < until:
            by_worker[message.worker] += 1
            by_reason[message.kind] += 1
    return Parked(by_worker, by_reason, undated)


def read_parked(settings: Settings, since: datetime, until: datetime) -> Parked | Unread:
    """The parking lots' figures for the period, or why they could not be read."""
    try:
        messages = list_parked(settings, Filters())
    except LocalBroker:
        return Unread(
            "not read: the broker is memory://, which only the workers' own process reaches"
        )
    except (ParkingError, BrokerUrlError) as error:
        return Unread(f"not read: {error}")
    return count_parked(messages, since, until)
