"""The runtime loop every worker runs: take a batch, handle it in one transaction, ack, publish.

One pass of ``poll``:
1. take up to ``batch_size`` deliveries; decode and validate each (bad ones go to the parking lot);
2. in one transaction: skip ids the inbox has seen, call the handlers, write their announcements
   to the outbox, their timers to the timer table and the ids to the inbox; commit;
3. publish the parked messages with confirms, then ack the whole batch with one frame;
4. publish the new outbox rows with one confirm wait; they are marked published in the next
   transaction (or on their own when the worker is idle);
5. fire due timers the same way, and now and then sweep the outbox for rows left unpublished;
6. run the service's after-commit work (e-mail): after messages were handled, now and then, and
   at once again while it keeps finding work, so a backlog drains without pauses between passes.

When things fail:
- A failing batch is tried again one message at a time, so one bad message cannot hold the
  others back; a permanent error parks the message (kind ``handler_error``).
- A transient error (a gateway timeout, a serialization failure) is retried in process with
  backoff (``handler_attempts``). If it persists, a cheap query asks whether the database
  answers at all. If not, nothing is acked and the loop backs off until it does. If it does, it
  is this message that keeps failing: it waits in the timer table for a delayed try after each of
  ``retry_delays_seconds`` in turn and is parked after the last (``retries_exhausted``). The
  inbox keeps its effect single, however often it is tried or delivered.
- A lost broker link (a restart, a reset socket, missed heartbeats) drops the deliveries in hand
  (the broker hands them out again; the inbox dedupes), then the link is opened again with
  jittered backoff, the topology declared and the queue consumed; announcements not yet published
  stay in the outbox, and the next sweep publishes them.
- ``run`` ends when its stop event is set (SIGTERM): the consumer is cancelled, the deliveries
  in hand are handled, acked and published within ``shutdown_seconds``, and the link closed.
  Past the bound, or in an outage, the rest are left unacked for the broker to hand out again.

This module is the loop; what happens to a message and a timer is ``shared.handling``. The loop
reports its health (``shared.health``) and passes the test-only crash points (``shared.crash``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from kombu.message import Message as Delivery

from shared import metrics
from shared.actions import Done, operate
from shared.clock import Clock
from shared.database import open_database
from shared.envelope import CONTENT_TYPE_FIELD, InvalidMessage, content_type_problem, decode
from shared.errors import is_transient
from shared.handlers import Service
from shared.handling import DatabaseDown, Handling, RuntimeTables
from shared.health import WORKERS
from shared.inbound import Inbound, Parked, UnknownType, origin_of
from shared.messaging import LinkDown, PublishNotConfirmed
from shared.outages import Backoff, keep_trying
from shared.settings import Settings

__all__ = ["RuntimeTables", "Worker"]

log = logging.getLogger("orderflow.worker")

T = TypeVar("T")

OUTBOX_GRACE = timedelta(seconds=5)


def is_outage(error: BaseException) -> bool:
    """Trouble that passes on its own: the broker link, the database, a transient error."""
    return isinstance(error, LinkDown | PublishNotConfirmed | DatabaseDown) or is_transient(error)


class Worker(Handling):
    def __init__(self, service: Service, settings: Settings, clock: Clock | None = None) -> None:
        super().__init__(service, settings, clock)
        self._queue = self.topology.worker_queue(self.name, service.subscriptions)
        self._stop = threading.Event()
        self._backoff = Backoff(longest=settings.reconnect_max_seconds)
        self._next_timer_check = 0.0
        self._next_sweep = 0.0
        self._sweep_grace = timedelta(0)  # the first sweep, and the first after a reconnect
        self._next_after_commit = 0.0
        self._after_commit_busy = False  # it did work last pass: more may wait, so no pause

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> bool:
        """Open the database and the broker link, waiting out outages of either; False if the
        worker was stopped first."""
        WORKERS.add(self.health)
        url = self.settings.database_url_for(self.name)

        def open_own_database() -> None:
            self.sessions = open_database(url, self.service.metadata)
            self.health.database(None)

        return self._keep_trying("database", open_own_database) and self._keep_trying(
            "broker", self._open_link
        )

    def run(self, stop: threading.Event, wait: float = 0.2) -> None:
        """Poll until ``stop`` is set, then finish the deliveries in hand and close."""
        self._stop = stop
        try:
            if self.start():
                while not stop.is_set():
                    self.poll(wait)
                self.finish()
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
                self._handle_deliveries(self.link.take(self.settings.batch_size))
        except Exception as error:
            if not is_outage(error):
                raise
            log.warning("%s: stopping in an outage: %s", self.name, error)
            if isinstance(error, LinkDown | PublishNotConfirmed):
                self.link.reset()  # no goodbye on a broken link
        if self.link.buffer:
            log.warning("%s: left %d deliveries unacked", self.name, len(self.link.buffer))

    def close(self) -> None:
        if not self.health.dead:
            WORKERS.remove(self.health)
        try:
            self._flush_marks()
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("%s: published rows left unmarked (%r)", self.name, error)
        self.link.close()

    def operate(self, action: Callable[[Any], Done[T]]) -> T:
        """An operator action on this worker's database, for a process that runs the worker
        (the embedded demo, tests): see ``shared.actions``. Its announcements go out through
        this worker's own link at once."""
        assert self.sessions is not None, "start() first"
        return operate(self.service, self.sessions, action, self.publisher.announce, self.clock)

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
            self._reconnect(trouble)
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
        self._backoff.reset()
        return done

    def _pass(self, wait: float) -> int:
        done = 0
        if self.link.fill(self.settings.batch_size, 0.0 if self._after_commit_busy else wait):
            done += self._handle_deliveries(self.link.take(self.settings.batch_size))
        now = time.monotonic()
        if now >= self._next_timer_check:
            done += self.fire_timers()
            self._next_timer_check = now + self.settings.timer_poll_seconds
        if done or self._after_commit_busy or now >= self._next_after_commit:
            self._after_commit_busy = self._after_commit_keeping_pace(done)
            self._next_after_commit = now + self.settings.timer_poll_seconds
        if now >= self._next_sweep:
            self.sweep_outbox(self._sweep_grace)
            self._next_sweep = now + self.settings.outbox_sweep_seconds
            self._sweep_grace = OUTBOX_GRACE
        if not done:
            self._flush_marks()
        return done

    def _after_commit_keeping_pace(self, handled: int) -> bool:
        """Run the after-commit work (e-mail) until it has done as much as was just handled, or
        finds nothing left: so it keeps pace with the messages that give it work instead of
        falling a batch behind on every pass. True if it may have more to do."""
        done = 0
        while (did := self.run_after_commit()) > 0:
            done += did
            if done >= handled or self._stop.is_set():
                return True
        return False

    def _handle_deliveries(self, deliveries: list[Delivery]) -> int:
        self.crash.reach("after_receive")
        items: list[Inbound] = []
        parked: list[Parked] = []
        for delivery in deliveries:
            item = self._open(delivery, parked)
            if item is not None:
                items.append(item)
        try:
            parked += self._handle(items)
            self.publisher.park(parked, self.clock.now())
        except Exception:
            self.link.buffer[:0] = deliveries  # tried again after the pause (dropped on reconnect)
            raise
        self.link.ack(deliveries)
        return len(items)

    def _open(self, delivery: Delivery, parked: list[Parked]) -> Inbound | None:
        """The delivery to handle, or None when it is parked: malformed (its reason names a
        wrong content type too), of a type this worker does not handle, or invalid (a wrong
        content type included) where the service has no invalid-message handler for it."""
        content_type = delivery.content_type
        try:
            envelope = decode(delivery.body, self.settings.max_message_bytes)
        except InvalidMessage as problem:
            wrong_type = content_type_problem(content_type)
            reason = f"{CONTENT_TYPE_FIELD}: {wrong_type}; " if wrong_type else ""
            parked.append(Parked.delivery(delivery, reason + problem.reason, "malformed"))
            return None
        try:
            return self._inbound(
                envelope, content_type, delivery=delivery, origin=origin_of(delivery)
            )
        except UnknownType as problem:
            parked.append(Parked.delivery(delivery, problem.reason, "unknown_type"))
        except InvalidMessage as problem:
            parked.append(Parked.delivery(delivery, problem.reason, "invalid"))
        return None

    # -- outages ----------------------------------------------------------------------------

    def _open_link(self) -> None:
        self.link.reset()
        self.link.connect(retries=0)
        t = self.topology
        self.link.declare(
            [t.events, t.commands, t.parking, t.parking_queue(self.name), self._queue]
        )
        self.link.consume(self._queue, self.settings.prefetch)
        self.health.broker(None)

    def _keep_trying(self, what: str, step: Callable[[], None]) -> bool:
        report = self.health.broker if what == "broker" else self.health.database

        def failed(error: BaseException, pause: float) -> None:
            log.warning("%s: %s unavailable (%s); again in %.1fs", self.name, what, error, pause)
            report(f"{type(error).__name__}: {error}"[:300])
            self.health.passed()

        return keep_trying(step, self._stop, is_outage, failed, self.settings.reconnect_max_seconds)

    def _reconnect(self, trouble: Exception) -> None:
        log.warning(
            "%s: broker link lost (%s); what was not acked is handed out again", self.name, trouble
        )
        self.health.broker(f"{type(trouble).__name__}: {trouble}"[:300])
        metrics.RECONNECTS.labels(self.name).inc()
        if self._keep_trying("broker", self._open_link):
            log.info("%s: broker link open again", self.name)
            self._next_sweep, self._sweep_grace = 0.0, timedelta(0)

    def _back_off(self, error: Exception) -> None:
        if not isinstance(error, DatabaseDown):
            self._database_answers()
        pause = self._backoff.pause()
        log.warning("%s: %s; trying again in %.1fs", self.name, error, pause)
        self._stop.wait(pause)
