"""The slow gauges a worker reads now and then (every ``gauge_refresh_seconds``), off the
message path:

- ``orderflow_parking_lot_messages``: the depth of the worker's parking-lot queue, as the broker
  counts it (a passive declare on a channel of its own), so a replay or a purge from the CLI
  brings it down at the next read, whichever process did it. On kombu's memory:// transport the
  count is the process's own in-memory queue, which is the only parking lot there is.
- the service's own gauges, from its database (``Service.gauges``: intake's orders per status).

A read that fails leaves the gauge as it was and logs why: the broker's and the database's own
gauges (``shared.vitals``) say what is down, and a metric never stops a worker. A lost broker
connection is the exception: it is raised as ``LinkDown``, as anywhere else in the loop, so the
link is opened again at once; swallowed here, the worker would sit on a dead connection until
heartbeats gave out.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from shared import metrics
from shared.clock import Clock
from shared.messaging import BrokerLink, LinkDown
from shared.service import Service
from shared.worker_database import WorkerDatabase

log = logging.getLogger("orderflow.worker")


@dataclass(eq=False)
class SlowGauges:
    service: Service
    link: BrokerLink
    parking_queue: str
    database: WorkerDatabase
    clock: Clock
    every: float
    _next: float = field(default=0.0, init=False)

    def refresh(self, now: float | None = None) -> None:
        """Read the gauges if ``every`` seconds passed since the last read."""
        now = time.monotonic() if now is None else now
        if now < self._next:
            return
        self._next = now + self.every
        self.read()

    def read(self) -> None:
        name = self.service.name
        try:
            metrics.PARKING_LOT.labels(name).set(self.parking_depth())
        except self.link.connection.connection_errors as error:
            raise LinkDown(f"{type(error).__name__}: {error}") from error
        except Exception as error:
            log.warning("%s: could not read the parking lot's depth: %r", name, error)
        if self.service.gauges is None or self.database.sessions is None:
            return
        try:
            with self.database.opened() as session:
                self.service.gauges(session, self.clock.now())
        except Exception as error:
            log.warning("%s: could not read its gauges from its database: %r", name, error)

    def parking_depth(self) -> int:
        channel = self.link.connection.channel()
        try:
            _, count, _ = channel.queue_declare(queue=self.parking_queue, passive=True)
        finally:
            channel.close()
        return int(count)
