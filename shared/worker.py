"""The runtime loop every worker runs, and its life cycle. One pass of ``poll``:
1. take up to ``batch_size`` deliveries and handle them (``shared.deliveries``): bad ones are
   parked, the rest handled in one transaction (``shared.transaction``: inbox, handlers, outbox,
   timers), the batch acked with one frame, the announcements published (``shared.relay``);
2. fire due timers and delayed tries the same way (``shared.due_timers``); an idle pass waits
   for a delivery until the next is due at most;
3. run the service's after-commit work (e-mail, ``shared.after_commit``): after messages were
   handled, now and then, and at once again while it keeps finding work, so a backlog drains
   without pauses between passes;
4. now and then sweep the outbox for rows left unpublished, and read the slow gauges
   (``shared.gauges``).

A message that keeps failing: ``shared.failures``. Outages:
- A lost broker link (a restart, a reset socket, missed heartbeats) drops the deliveries in hand
  (the broker hands them out again; the inbox dedupes), then the link is opened again with
  jittered backoff (``shared.connections``); announcements not yet published stay in the
  outbox, and the next sweep publishes them.
- While the database does not answer, nothing is acked and the loop pauses, longer each pass
  (``RetryPolicy``), until it does.
- ``run`` ends when its stop event is set (SIGTERM): the consumer is cancelled, the deliveries
  in hand are handled, acked and published within ``shutdown_seconds``, and the link closed.
  Past the bound, or in an outage, the rest are left unacked for the broker to hand out again.

Counters start at 0 (``shared.metric_start``); health: ``shared.health``, ``shared.vitals``;
test-only crash points: ``shared.crash``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from shared.actions import Done, operate
from shared.after_commit import AfterCommitWork, ThirdPartyOutage
from shared.brokers import Trust, connect_as
from shared.clock import Clock, SystemClock
from shared.connections import Connections
from shared.crash import CrashPoints
from shared.deliveries import Deliveries
from shared.due_timers import DueTimers
from shared.errors import is_transient
from shared.failures import DatabaseDown, Failures, is_outage
from shared.gauges import SlowGauges
from shared.health import WORKERS, Health
from shared.log_events import error_text
from shared.logs import bound_worker, get_logger
from shared.messaging import LinkDown, PublishNotConfirmed
from shared.metric_start import start_at_zero
from shared.outages import Backoff
from shared.publisher import Publisher
from shared.relay import Relay
from shared.runtime_tables import RuntimeTables
from shared.service import Service
from shared.settings import Settings
from shared.topology import Topology
from shared.transaction import BatchTransaction
from shared.vitals import watch
from shared.worker_database import WorkerDatabase

__all__ = ["RuntimeTables", "Worker"]

log = get_logger("orderflow.worker")

T = TypeVar("T")

OUTBOX_GRACE = timedelta(seconds=5)


class Worker:
    def __init__(
        self, service: Service, settings: Settings, clock: Clock | None = None, trust: Trust = None
    ) -> None:
        self.service = service
        self.name = service.name
        self.settings = settings
        self.clock = clock or SystemClock()
        self.topology = Topology.of(settings)
        self.tables = RuntimeTables(service.metadata)
        self.link, user, senders = connect_as(settings, service, trust)  # see shared.brokers
        self.health = Health(self.name, settings.health_window_seconds)
        self.crash = CrashPoints(settings.crash_at, settings.crash_after)
        self.publisher = Publisher(self.name, self.link, self.topology, self.crash, user)
        self.database = WorkerDatabase(self.health)
        self.relay = Relay(
            self.name,
            self.database,
            self.tables,
            self.publisher,
            self.clock,
            self.link.confirm_timeout,
            timedelta(seconds=settings.timer_overdue_seconds),
        )
        self.failures = Failures(
            self.name, settings.retry, self.database, self.tables.timers, self.clock
        )
        transaction = BatchTransaction(
            service, self.database, self.tables, self.relay, self.crash, self.clock
        )
        self.deliveries = Deliveries(
            service,
            settings.max_message_bytes,
            self.link,
            transaction,
            self.failures,
            self.publisher,
            self.crash,
            self.clock,
            senders,
        )
        self.due_timers = DueTimers(
            service,
            settings.batch_size,
            self.database,
            self.tables.timers,
            transaction,
            self.failures,
            self.publisher,
            self.clock,
            settings.timer_poll_seconds,
        )
        retry = settings.retry
        pauses = Backoff(retry.after_commit_pause_seconds, retry.after_commit_pause_max_seconds)
        outage = ThirdPartyOutage(self.name, self.health, pauses)
        self.after_commit = AfterCommitWork(
            service, self.database, self.tables.outbox, self.relay, self.crash, self.clock, outage
        )
        self.connections = Connections(
            self.name,
            self.database,
            self.link,
            self.topology,
            self.topology.worker_queue(self.name, service.subscriptions, service.batched),
            settings.prefetch,
            self.health,
            settings.reconnect_max_seconds,
        )
        self.gauges = SlowGauges(
            service,
            self.link,
            self.topology.parking_queue_name(self.name),
            self.database,
            self.clock,
            settings.gauge_refresh_seconds,
        )
        self._stop = threading.Event()
        self._backoff = Backoff(retry.outage_pause_seconds, retry.outage_pause_max_seconds)
        self._next_sweep = 0.0
        self._sweep_grace = timedelta(0)  # the first sweep, and the first after a reconnect
        self._next_after_commit = 0.0
        self._after_commit_busy = False  # it did work last pass: more may wait, so no pause

    @property
    def sessions(self) -> sessionmaker[Session] | None:
        return self.database.sessions

    @sessions.setter
    def sessions(self, sessions: sessionmaker[Session] | None) -> None:
        self.database.sessions = sessions

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> bool:
        """Open the database and the broker link, waiting out outages of either; False if the
        worker was stopped first."""
        WORKERS.add(self.health)
        start_at_zero(self.service)
        watch(self.health)
        url = self.settings.database_url_for(self.name)
        return self.connections.open(url, self.service.metadata, self._stop)

    def run(self, stop: threading.Event, wait: float = 0.2) -> None:
        """Poll until ``stop`` is set, then finish the deliveries in hand and close."""
        self._stop = stop
        with bound_worker(self.name):
            try:
                if self.start():
                    log.info("worker started", worker=self.name, queue=self.connections.queue.name)
                    while not stop.is_set():
                        self.poll(wait)
                    self.finish()
                    log.info("worker stopped", worker=self.name)
            except BaseException as error:
                self.health.died(error)
                raise
            finally:
                self.close()

    def finish(self) -> None:
        """Stop consuming; handle, ack and publish the deliveries in hand, within
        ``shutdown_seconds``. Past it, or in an outage, the broker hands the rest out again."""
        self.health.stopping()
        deadline = time.monotonic() + self.settings.shutdown_seconds
        try:
            self.link.stop_consuming(timeout=max(deadline - time.monotonic(), 0.1))
            while self.link.buffer and time.monotonic() < deadline:
                self.deliveries.handle(self.link.take(self.settings.batch_size))
        except Exception as error:
            if not is_outage(error):
                raise
            log.warning("stopping in an outage", worker=self.name, error=error_text(error))
            if isinstance(error, LinkDown | PublishNotConfirmed):
                self.link.reset()  # no goodbye on a broken link
        if self.link.buffer:
            log.warning("deliveries left unacked", worker=self.name, count=len(self.link.buffer))

    def close(self) -> None:
        if not self.health.dead:
            WORKERS.remove(self.health)
        try:
            self.relay.await_confirms()
            self.relay.flush_marks()
        except Exception as error:
            if not (is_transient(error) or isinstance(error, LinkDown | PublishNotConfirmed)):
                raise
            log.warning("published rows left unmarked", worker=self.name, error=error_text(error))
        self.link.close()

    def operate(self, action: Callable[[Any], Done[T]]) -> T:
        """An operator action on this worker's database, for a process that runs the worker
        (the embedded demo, tests): see ``shared.actions``. Its announcements go out through
        this worker's own link at once."""
        assert self.sessions is not None, "start() first"
        return operate(self.service, self.sessions, action, self.publisher.announce, self.clock)

    def fire_timers(self) -> int:
        return self.due_timers.fire()

    def next_timer_due(self) -> datetime | None:
        return self.due_timers.next_due()

    def run_after_commit(self) -> int:
        return self.after_commit.run()

    def sweep_outbox(self, grace: timedelta) -> None:
        self.relay.sweep(grace)

    # -- one pass ---------------------------------------------------------------------------

    def poll(self, wait: float = 0.0) -> int:
        """Do whatever work is ready; returns how many messages and timers were handled.

        An outage does not escape: a lost broker link is opened again (until the worker is
        stopped), and while the database is down the loop backs off."""
        done = 0
        try:
            done = self._pass_or_back_off(wait)
            self.link.heartbeat()
        except (LinkDown, PublishNotConfirmed) as trouble:
            if self.connections.reopen_link(trouble, self._stop):
                self._next_sweep, self._sweep_grace = 0.0, timedelta(0)
        self.health.passed()
        return done

    def _pass_or_back_off(self, wait: float) -> int:
        try:
            done = self._pass(wait)
        except Exception as error:
            if isinstance(error, LinkDown | PublishNotConfirmed) or not is_outage(error):
                raise
            self._back_off(error)
            return 0
        if over := self._backoff.reset():
            log.info(over, worker=self.name)
        return done

    def _pass(self, wait: float) -> int:
        done = 0
        wait = 0.0 if self._after_commit_busy else self.due_timers.wait_at_most(wait)
        filled = self.link.fill(self.settings.batch_size, wait)
        self.relay.settle()  # the confirms that arrived with the deliveries
        if filled:
            done += self.deliveries.handle(self.link.take(self.settings.batch_size))
        done += self.fire_timers()
        now = time.monotonic()
        if done or self._after_commit_busy or now >= self._next_after_commit:
            self._after_commit_busy = self.after_commit.keeping_pace(done, self._stop)
            self._next_after_commit = now + self.settings.timer_poll_seconds
        if now >= self._next_sweep:
            self.sweep_outbox(self._sweep_grace)
            self._next_sweep = now + self.settings.outbox_sweep_seconds
            self._sweep_grace = OUTBOX_GRACE
        self.gauges.refresh(now)
        if not done:
            self.relay.flush_marks(idle=True)
        return done

    # -- outages ----------------------------------------------------------------------------

    def _back_off(self, error: Exception) -> None:
        down = isinstance(error, DatabaseDown) or not self.database.answers()
        what, over = ("database", "back") if down else ("transient errors", "over")
        pause = self._backoff.pause(f"{what} {over}")
        event = "database unavailable" if down else "transient errors; pausing"
        log.warning(event, worker=self.name, error=error_text(error), pause_seconds=pause)
        self._stop.wait(pause)
