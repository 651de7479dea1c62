"""The relay: publishes a worker's committed outbox rows with publisher confirms and marks them
published; its sweep publishes what a crash or an outage left in the outbox.

A batch's rows are published after its transaction without waiting for the broker's confirms:
the worker goes on to its next batch, and the confirms are read with whatever else arrives on
the connection (a wait per batch cost a blocking round trip and a wake-up, about a millisecond
of CPU on a small batch). Confirmed rows are marked by a later transaction of the worker's, a
few hundred or half a second's worth at a time (``MARK_AFTER``), or on their own when the worker
is idle or stops. Until then, and if the broker nacked them, did not confirm them within
``confirm_timeout`` or the connection was lost, they stay unpublished in the outbox: the sweep
sends them (again, at worst; the receiver's inbox keeps the effect single).

Each sweep also sets the outbox's gauges (its backlog and its oldest row's age) and the timers'
(delayed tries waiting, timers overdue), with one aggregate query each.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shared import metrics
from shared.clock import Clock
from shared.envelope import Envelope
from shared.logs import get_logger
from shared.messaging import PublishNotConfirmed
from shared.publisher import Publisher
from shared.runtime_tables import RuntimeTables
from shared.worker_database import WorkerDatabase

log = get_logger("orderflow.worker")

SWEEP_BATCH = 500

MARK_AFTER = 0.5
"""Seconds confirmed rows wait to be marked, unless ``MARK_ROWS`` of them wait: a batch's
transaction marks them when either is reached, an idle worker in a transaction of its own. A
small batch would otherwise spend a statement (a round trip) on the marks of one or two rows,
and a worker briefly idle (a pass woken by the confirms themselves) a whole transaction. A crash
leaves at most this much unmarked, for the sweep to send again (its grace is longer)."""

MARK_ROWS = 200


@dataclass(frozen=True)
class InFlight:
    """Rows published on the link's connection ``epoch``, the last as publish number ``last``."""

    epoch: int
    last: int
    sent_at: float
    envelopes: Sequence[Envelope]


@dataclass(eq=False)
class Relay:
    name: str
    database: WorkerDatabase
    tables: RuntimeTables
    publisher: Publisher
    clock: Clock
    confirm_timeout: float = 30.0
    timers_overdue_after: timedelta = timedelta(seconds=60)
    _in_flight: list[InFlight] = field(default_factory=list, init=False)
    _unmarked: list[str] = field(default_factory=list, init=False)
    _unmarked_since: float = field(default=0.0, init=False)

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish committed outbox rows; marked published once confirmed (see above)."""
        if not envelopes:
            return
        last = self.publisher.send(envelopes)
        if last is not None:
            epoch = self.publisher.link.epoch
            self._in_flight.append(InFlight(epoch, last, time.monotonic(), envelopes))

    def settle(self) -> None:
        """Take what the broker confirmed to be marked; forget what it nacked or what went
        out on a lost connection (the sweep sends those again). ``PublishNotConfirmed`` if a
        publish waits longer than ``confirm_timeout``: the link is then opened again."""
        if not self._in_flight:
            return
        link = self.publisher.link
        if link.take_nack():
            log.warning("broker nacked a publish; the sweep sends it again", worker=self.name)
            self._in_flight.clear()
            return
        self._in_flight = [f for f in self._in_flight if f.epoch == link.epoch]
        if not self._in_flight:
            return
        through = link.confirmed_through()
        while self._in_flight and self._in_flight[0].last <= through:
            confirmed = self._in_flight.pop(0).envelopes
            self.publisher.count(confirmed)
            if not self._unmarked:
                self._unmarked_since = time.monotonic()
            self._unmarked += [e.id for e in confirmed]
        if self._in_flight and time.monotonic() - self._in_flight[0].sent_at > self.confirm_timeout:
            self._in_flight.clear()
            raise PublishNotConfirmed(f"no confirm within {self.confirm_timeout:.0f}s")

    def await_confirms(self) -> None:
        """Wait for the broker to confirm what is in flight (a worker stopping)."""
        if self._in_flight:
            self.publisher.link.confirm()
        self.settle()

    def publish_committed(self, envelopes: Sequence[Envelope]) -> None:
        """Publish those of ``envelopes`` whose transaction committed (the rest never happened)."""
        if not envelopes:
            return
        with self.database.opened() as session:
            kept = self.tables.outbox.present(session, [e.id for e in envelopes])
        self.publish([e for e in envelopes if e.id in kept])

    def mark(self, session: Session, now: datetime, waiting: bool = True) -> list[str]:
        """Mark what was published and confirmed (``settle``) in ``session``'s transaction, if
        it has waited long enough (see ``MARK_AFTER``) or ``waiting`` is False; ``marked`` once
        it committed."""
        if not self._unmarked or (waiting and not self._marks_due()):
            return []
        self.tables.outbox.mark_published(session, self._unmarked, now)
        return list(self._unmarked)

    def _marks_due(self) -> bool:
        waited = time.monotonic() - self._unmarked_since
        return len(self._unmarked) >= MARK_ROWS or waited >= MARK_AFTER

    def marked(self, ids: Sequence[str]) -> None:
        done = set(ids)
        self._unmarked = [i for i in self._unmarked if i not in done]

    def flush_marks(self, idle: bool = False) -> None:
        """Mark what was published in a transaction of its own; when ``idle``, only if the
        marks are due (see ``MARK_AFTER``)."""
        self.settle()
        if not self._unmarked or (idle and not self._marks_due()):
            return
        if self.database.sessions is not None:
            with self.database.sessions() as session, session.begin():
                marking = self.mark(session, self.clock.now(), waiting=False)
            self.marked(marking)

    def sweep(self, grace: timedelta) -> None:
        """Publish rows older than ``grace`` that nobody confirmed (a crash, a broker outage).

        What this connection still has in flight is waited for and marked first: the sweep
        right after a start or a reconnect takes rows of any age, and would otherwise send a
        batch again that the broker was about to confirm."""
        self.await_confirms()
        self.flush_marks()
        outbox = self.tables.outbox
        with self.database.opened() as session, session.begin():
            now = self.clock.now()
            left = outbox.unpublished(session, now - grace, SWEEP_BATCH)
            if left:
                self.publisher.republish(left)
                outbox.mark_published(session, [e.id for e in left], self.clock.now())
                log.info("outbox swept", worker=self.name, published=len(left))
            self._gauge(session, now)

    def _gauge(self, session: Session, now: datetime) -> None:
        """The outbox's and the timers' gauges, with one aggregate query each."""
        backlog, oldest = self.tables.outbox.unconfirmed(session)
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        retrying, overdue = self.tables.timers.waiting(session, now - self.timers_overdue_after)
        metrics.OUTBOX_BACKLOG.labels(self.name).set(backlog)
        metrics.OUTBOX_OLDEST_AGE.labels(self.name).set(max(age, 0.0))
        metrics.RETRY_BACKLOG.labels(self.name).set(retrying)
        metrics.TIMERS_OVERDUE.labels(self.name).set(overdue)
