"""The relay: publishes a worker's committed outbox rows with publisher confirms and marks them
published; its sweep publishes what a crash or an outage left in the outbox.

A row published after its transaction is marked in the worker's next transaction (one write
fewer per batch), or on its own when the worker is idle or stops. Until then, and if the
broker failed, it stays unpublished in the outbox: the sweep sends it (again, at worst; the
receiver's inbox keeps the effect single).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shared import metrics
from shared.clock import Clock
from shared.envelope import Envelope
from shared.publisher import Publisher
from shared.runtime_tables import RuntimeTables
from shared.worker_database import WorkerDatabase

log = logging.getLogger("orderflow.worker")

SWEEP_BATCH = 500


@dataclass(eq=False)
class Relay:
    name: str
    database: WorkerDatabase
    tables: RuntimeTables
    publisher: Publisher
    clock: Clock
    _unmarked: list[str] = field(default_factory=list, init=False)

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish committed outbox rows; they are marked published later (see above)."""
        if envelopes and self.publisher.announce(envelopes):
            self._unmarked += [e.id for e in envelopes]

    def publish_committed(self, envelopes: Sequence[Envelope]) -> None:
        """Publish those of ``envelopes`` whose transaction committed (the rest never happened)."""
        if not envelopes:
            return
        with self.database.opened() as session:
            kept = self.tables.outbox.present(session, [e.id for e in envelopes])
        self.publish([e for e in envelopes if e.id in kept])

    def mark(self, session: Session, now: datetime) -> list[str]:
        """Mark what was published in ``session``'s transaction; ``marked`` once it committed."""
        if self._unmarked:
            self.tables.outbox.mark_published(session, self._unmarked, now)
        return list(self._unmarked)

    def marked(self, ids: Sequence[str]) -> None:
        done = set(ids)
        self._unmarked = [i for i in self._unmarked if i not in done]

    def flush_marks(self) -> None:
        """Mark what was published in a transaction of its own."""
        if self._unmarked and self.database.sessions is not None:
            with self.database.sessions() as session, session.begin():
                marking = self.mark(session, self.clock.now())
            self.marked(marking)

    def sweep(self, grace: timedelta) -> None:
        """Publish rows older than ``grace`` that nobody confirmed (a crash, a broker outage)."""
        self.flush_marks()
        outbox = self.tables.outbox
        with self.database.opened() as session, session.begin():
            now = self.clock.now()
            left = outbox.unpublished(session, now - grace, SWEEP_BATCH)
            if left:
                self.publisher.republish(left)
                outbox.mark_published(session, [e.id for e in left], self.clock.now())
                log.info("%s: published %d messages left in the outbox", self.name, len(left))
            metrics.OUTBOX_BACKLOG.labels(self.name).set(outbox.backlog(session))
            metrics.RETRY_BACKLOG.labels(self.name).set(self.tables.timers.retrying(session))
