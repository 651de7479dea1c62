"""A worker's connections: its database and its broker link opened, waiting out an outage of
either (``shared.outages``), and the link opened again when it is lost: the topology declared
and the worker's queue consumed each time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kombu import Queue
from sqlalchemy import MetaData

from shared import metrics
from shared.failures import is_outage
from shared.health import Health
from shared.log_events import error_text
from shared.logs import get_logger
from shared.messaging import BrokerLink
from shared.outages import keep_trying
from shared.topology import Topology
from shared.worker_database import WorkerDatabase

log = get_logger("orderflow.worker")


@dataclass(eq=False)
class Connections:
    name: str
    database: WorkerDatabase
    link: BrokerLink
    topology: Topology
    queue: Queue
    prefetch: int
    health: Health
    longest_pause: float

    def open(self, database_url: str, metadata: MetaData, stop: threading.Event) -> bool:
        """Open the database, then the broker link; False if ``stop`` was set first."""

        def open_database() -> None:
            self.database.open(database_url, metadata)

        return self._keep_trying("database", open_database, stop) and self._keep_trying(
            "broker", self._open_link, stop
        )

    def reopen_link(self, trouble: Exception, stop: threading.Event) -> bool:
        """The link was lost (``trouble``): open it again; False if ``stop`` was set first."""
        log.warning(
            "broker link lost; what was not acked is handed out again",
            worker=self.name,
            error_type=type(trouble).__name__,
            error=error_text(trouble),
        )
        self.health.broker(f"{type(trouble).__name__}: {trouble}"[:300])
        metrics.RECONNECTS.labels(self.name).inc()
        return self._keep_trying("broker", self._open_link, stop, lost=time.monotonic())

    def _open_link(self) -> None:
        self.link.reset()
        self.link.connect(retries=0)
        t = self.topology
        own = [t.parking_queue(self.name), self.queue]
        self.link.declare([*t.exchanges, *own])
        self.link.consume(self.queue, self.prefetch)
        self.health.broker(None)

    def _keep_trying(
        self,
        what: Literal["database", "broker"],
        step: Callable[[], None],
        stop: threading.Event,
        lost: float | None = None,
    ) -> bool:
        """``step`` until it works, with a line for each failure, and one when ``what`` is back
        after an outage (``lost``: when the outage began, if before the first try)."""
        report = self.health.broker if what == "broker" else self.health.database
        down_since = [lost]

        def failed(error: BaseException, pause: float) -> None:
            log.warning(
                f"{what} unavailable",
                worker=self.name,
                error_type=type(error).__name__,
                error=error_text(error),
                retry_in_seconds=round(pause, 2),
            )
            report(f"{type(error).__name__}: {error}"[:300])
            self.health.passed()
            down_since[0] = down_since[0] or time.monotonic()

        if not keep_trying(step, stop, is_outage, failed, self.longest_pause):
            return False
        if down_since[0] is not None:
            down = round(time.monotonic() - down_since[0], 2)
            log.info(f"{what} back", worker=self.name, down_seconds=down)
        return True
