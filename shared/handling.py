"""How a worker handles messages and timers against its database: in one transaction per batch
(inbox, state, outbox, timers), one by one when a batch fails, with in-process retries, delayed
tries and the parking lot for what keeps failing. ``shared.worker`` runs the loop around it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from shared import metrics
from shared.clock import Clock, SystemClock
from shared.contracts import Message, contract_for
from shared.crash import CrashPoints
from shared.envelope import CONTENT_TYPE, Envelope, wrap
from shared.errors import is_transient
from shared.handlers import Service, call
from shared.health import Health
from shared.inbound import Inbound, Parked, admit
from shared.inbox import Inbox, inbox_table
from shared.messaging import BrokerLink
from shared.outbox import Outbox, outbox_table
from shared.publisher import Publisher
from shared.settings import Settings
from shared.timers import Scheduled, TimerRow, Timers, timers_table
from shared.topology import Topology

log = logging.getLogger("orderflow.worker")


class DatabaseDown(Exception):
    """The database does not answer: nothing is acked and the loop backs off."""


class RuntimeTables:
    """The runtime's own tables, added once to a worker's metadata."""

    def __init__(self, metadata: MetaData) -> None:
        tables = metadata.tables
        self.inbox = Inbox(tables["inbox"] if "inbox" in tables else inbox_table(metadata))
        self.outbox = Outbox(tables["outbox"] if "outbox" in tables else outbox_table(metadata))
        self.timers = Timers(tables["timers"] if "timers" in tables else timers_table(metadata))


class Handling:
    """A worker's messages and timers, against its database; the loop is ``Worker``'s."""

    raise_permanent_errors = False
    """Raise a handler's permanent error instead of parking its message: the embedded cluster's
    strict mode, so that a test fails inside the failing handler, with its traceback."""

    def __init__(self, service: Service, settings: Settings, clock: Clock | None = None) -> None:
        self.service = service
        self.name = service.name
        self.settings = settings
        self.clock = clock or SystemClock()
        self.topology = Topology(
            settings.namespace, settings.use_quorum_queues, settings.delivery_limit
        )
        self.tables = RuntimeTables(service.metadata)
        self.link = BrokerLink(settings.broker_url, heartbeat=settings.heartbeat_seconds)
        self.sessions: sessionmaker[Session] | None = None
        self.health = Health(self.name, settings.health_window_seconds)
        self.crash = CrashPoints(settings.crash_at, settings.crash_after)
        self.publisher = Publisher(self.name, self.link, self.topology, self.crash)
        self._unmarked: list[str] = []

    def _inbound(
        self, envelope: Envelope, content_type: str | None = CONTENT_TYPE, **context: Any
    ) -> Inbound:
        """A delivery, sent as ``content_type``, or a row of the worker's own timer table."""
        return admit(self.service, envelope, content_type, **context)

    def _database_answers(self) -> bool:
        """Whether the database answers a trivial query: an outage, or just this message?"""
        assert self.sessions is not None, "start() first"
        try:
            with self.sessions() as session:
                session.execute(text("SELECT 1"))
        except Exception as error:
            self.health.database(f"{type(error).__name__}: {error}"[:300])
            return False
        self.health.database(None)
        return True

    # -- handling ---------------------------------------------------------------------------

    def _handle(self, items: list[Inbound]) -> list[Parked]:
        """Handle ``items`` in one transaction; if that fails, one by one. Returns what to park."""
        if not items:
            return []
        try:
            self._publish(self._transaction(items))
            return []
        except Exception as error:
            if is_transient(error) and not self._database_answers():
                raise DatabaseDown(f"a batch of {len(items)} failed: {error!r}") from error
            if len(items) == 1:
                return self._handle_alone(items[0], error)
            log.info("%s: a batch of %d failed (%r); one by one", self.name, len(items), error)
        return [parked for item in items for parked in self._handle_alone(item)]

    def _handle_alone(self, item: Inbound, error: Exception | None = None) -> list[Parked]:
        return self._try_alone(item, lambda: self._publish(self._transaction([item])), error)

    def _try_alone(
        self, item: Inbound, attempt: Callable[[], object], error: Exception | None = None
    ) -> list[Parked]:
        """Make ``attempt`` at ``item`` on its own, ``handler_attempts`` times in all (with
        ``error``, the first failed already: in a batch of one), retrying transient errors with
        backoff; then see ``_failed``."""
        tries = 0 if error is None else 1
        try:
            if error is not None and (
                not is_transient(error) or tries >= self.settings.handler_attempts
            ):
                raise error
            for retry in self._retrying(self.settings.handler_attempts - tries):
                with retry:
                    tries += 1
                    attempt()
            return []
        except Exception as failure:
            return self._failed(item, failure, item.attempts + tries)

    @staticmethod
    def _retrying(attempts: int) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.05),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )

    def _failed(self, item: Inbound, failure: Exception, attempts: int) -> list[Parked]:
        """A message that failed on its own: parked if the error is permanent; if it is
        transient, the loop backs off while the database is down, else the message gets a
        delayed try while ``retry_delays_seconds`` last, and is parked after the last (at once
        if the timer table cannot keep it as it came)."""
        if not is_transient(failure):
            if self.raise_permanent_errors:
                raise failure
            return [self._parked_failure(item, failure, attempts, "handler_error")]
        if not self._database_answers():
            raise DatabaseDown(f"{item.envelope.type} {item.envelope.id}: {failure!r}") from failure
        delays = self.settings.retry_delays_seconds
        if item.retries >= len(delays) or not item.waits_as_it_came:
            return [self._parked_failure(item, failure, attempts, "retries_exhausted")]
        self._retry_later(item, attempts, timedelta(seconds=delays[item.retries]))
        log.warning(
            "%s: %s %s failed %d times (%r); next try in %gs",
            self.name,
            item.envelope.type,
            item.envelope.id,
            attempts,
            failure,
            delays[item.retries],
        )
        return []

    def _retry_later(self, item: Inbound, attempts: int, delay: timedelta) -> None:
        """Keep ``item`` in the timer table for a delayed try (a delivery gets a row of its own,
        a timer's or an earlier delayed try's row waits again)."""
        assert self.sessions is not None
        due = self.clock.now() + delay
        timers = self.tables.timers
        with self.sessions() as session, session.begin():
            if item.delivery is None:
                timers.postpone(session, item.envelope.id, due, item.retries + 1, attempts)
            else:
                timers.retry_later(session, item.envelope, due, attempts, item.origin)
        metrics.REDELIVERIES.labels(self.name, item.envelope.type).inc()

    def _parked_failure(
        self, item: Inbound, failure: Exception, attempts: int, kind: str
    ) -> Parked:
        envelope = item.envelope
        log.error("%s: %s %s failed (%s): %r", self.name, envelope.type, envelope.id, kind, failure)
        metrics.MESSAGES.labels(self.name, envelope.type, "failed").inc()
        error = type(failure).__name__
        reason = str(failure) or error
        return Parked(item.body, reason, kind, item.origin, error, attempts, item.sent)

    def _transaction(
        self, items: list[Inbound], claim: Callable[[Session], list[Inbound]] | None = None
    ) -> list[Envelope]:
        assert self.sessions is not None, "start() first"
        now = self.clock.now()
        started = time.perf_counter()
        outgoing: list[Envelope] = []
        timers: list[tuple[Envelope, datetime]] = []
        handled: list[tuple[str, str]] = []
        duplicates: list[str] = []
        with self.sessions() as session, session.begin():
            if self._unmarked:
                self.tables.outbox.mark_published(session, self._unmarked, now)
            if claim is not None:
                items = claim(session)
            uow = self.service.unit_of_work(session)
            seen = self.tables.inbox.seen(session, [i.envelope.id for i in items if not i.forward])
            uow.preload([i.message for i in items if i.message and i.envelope.id not in seen])
            for item in items:
                envelope = item.envelope
                if item.forward:
                    outgoing.append(envelope)
                    continue
                if envelope.id in seen:
                    duplicates.append(envelope.type)
                    continue
                seen.add(envelope.id)
                for result in self._call(item, uow):
                    if isinstance(result, Scheduled):
                        timers.append(
                            (
                                wrap(result.message, source=self.name, cause=envelope, now=now),
                                result.due,
                            )
                        )
                    else:
                        outgoing.append(wrap(result, source=self.name, cause=envelope, now=now))
                handled.append((envelope.id, envelope.type))
            self.tables.outbox.add(session, outgoing)
            self.tables.timers.add(session, timers)
            self.tables.inbox.record(session, handled, now)
            self.crash.reach("before_commit")
        self.crash.reach("after_commit")
        self.health.database(None)
        self._unmarked = []
        self._count(handled, duplicates, started)
        return outgoing

    def _call(self, item: Inbound, uow: object) -> list[Message | Scheduled]:
        started = time.perf_counter()
        envelope = item.envelope
        if item.message is not None:
            handler = self.service.handlers[type(item.message)]
            results = list(call(handler, item.message, uow, envelope))
        else:
            assert item.problem is not None
            contract = contract_for(envelope.type)
            assert contract is not None
            results = list(self.service.invalid_handlers[contract](envelope, item.problem, uow))
        metrics.HANDLER_SECONDS.labels(self.name, envelope.type).observe(
            time.perf_counter() - started
        )
        return results

    def _count(self, handled: list[tuple[str, str]], duplicates: list[str], started: float) -> None:
        for _id, type_name in handled:
            metrics.MESSAGES.labels(self.name, type_name, "handled").inc()
        for type_name in duplicates:
            metrics.MESSAGES.labels(self.name, type_name, "duplicate").inc()
        if handled or duplicates:
            metrics.BATCH_SIZE.labels(self.name).observe(len(handled) + len(duplicates))
            metrics.BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    def _publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish committed outbox rows; they are marked published in the next transaction."""
        if envelopes and self.publisher.announce(envelopes):
            self._unmarked += [e.id for e in envelopes]

    def _flush_marks(self) -> None:
        if self._unmarked and self.sessions is not None:
            with self.sessions() as session, session.begin():
                self.tables.outbox.mark_published(session, self._unmarked, self.clock.now())
            self._unmarked = []

    # -- timers and the outbox sweep --------------------------------------------------------

    def fire_timers(self) -> int:
        """Handle (or forward) due timers and delayed tries in the transaction claiming them.

        If a batch of them fails, each is tried on its own as a delivery would be: retried in
        process, then given a delayed try or parked and removed, so none blocks those behind it.
        """
        due = self.next_timer_due()
        if due is None or due > self.clock.now():
            return 0
        try:
            return self._fire(None)
        except Exception as error:
            if is_transient(error) and not self._database_answers():
                raise DatabaseDown(f"timers: {error!r}") from error
            log.info("%s: a batch of timers failed (%r); one by one", self.name, error)
            return self._fire_one_by_one(error)

    def _fire_one_by_one(self, error: Exception) -> int:
        rows = self._due_rows()
        fired = 0
        for row in rows:
            attempt = functools.partial(self._fire, row.envelope.id)
            parked = self._try_alone(
                self._row_item(row), attempt, error if len(rows) == 1 else None
            )
            if parked:
                self._park_timer(row.envelope.id, parked)
            else:
                fired += 1
        return fired

    def _fire(self, message_id: str | None) -> int:
        fired: list[Inbound] = []

        def claim(session: Session) -> list[Inbound]:
            due = self.tables.timers.claim_due(
                session, self.clock.now(), self.settings.batch_size, message_id
            )
            self.tables.timers.remove(session, [row.envelope.id for row in due])
            fired[:] = [self._timer_item(row) for row in due]
            return fired

        self._publish(self._transaction([], claim))
        return len(fired)

    def _timer_item(self, row: TimerRow) -> Inbound:
        """A due row to handle here: a delayed try, or a timer this worker handles; a timer of
        a type it does not handle is forwarded (published)."""
        contract = contract_for(row.envelope.type)
        if not row.origin and (contract is None or contract not in self.service.handlers):
            return Inbound(row.envelope, forward=True)
        return self._inbound(row.envelope, **self._row_context(row))

    @classmethod
    def _row_item(cls, row: TimerRow) -> Inbound:
        """A due row as far as its failures go."""
        return Inbound(row.envelope, **cls._row_context(row))

    @staticmethod
    def _row_context(row: TimerRow) -> dict[str, Any]:
        """How often a due row was tried, and whence it came."""
        origin = row.origin or f"timer/{row.envelope.type}"
        return {"retries": row.retries, "attempts": row.attempts, "origin": origin}

    def _due_rows(self) -> list[TimerRow]:
        assert self.sessions is not None
        with self.sessions() as session:
            return self.tables.timers.claim_due(session, self.clock.now(), self.settings.batch_size)

    def _park_timer(self, message_id: str, parked: list[Parked]) -> None:
        assert self.sessions is not None
        with self.sessions() as session, session.begin():
            if self.tables.timers.claim_due(session, self.clock.now(), 1, message_id):
                self.publisher.park(parked, self.clock.now())
                self.tables.timers.remove(session, [message_id])

    def run_after_commit(self) -> int:
        """The service's after-commit work (e-mail); its failures wait for the next pass."""
        if self.service.after_commit is None or self.sessions is None:
            return 0
        announced: list[Envelope] = []

        def announce(session: Session, messages: Sequence[Message]) -> None:
            envelopes = [wrap(m, source=self.name, now=self.clock.now()) for m in messages]
            self.tables.outbox.add(session, envelopes)
            announced.extend(envelopes)

        try:
            done = self.service.after_commit(self.sessions, announce, self.crash.reach)
        except Exception as error:
            if not is_transient(error):
                log.exception("%s: after-commit work failed", self.name)
            done = 0
        self._publish(self._committed(announced))
        return done

    def _committed(self, envelopes: list[Envelope]) -> list[Envelope]:
        """Those of ``envelopes`` whose transaction committed (the rest never happened)."""
        if not envelopes:
            return []
        assert self.sessions is not None
        with self.sessions() as session:
            kept = self.tables.outbox.present(session, [e.id for e in envelopes])
        return [e for e in envelopes if e.id in kept]

    def next_timer_due(self) -> datetime | None:
        assert self.sessions is not None
        with self.sessions() as session:
            due = self.tables.timers.next_due(session)
        self.health.database(None)
        return due

    def sweep_outbox(self, grace: timedelta) -> None:
        """Publish rows older than ``grace`` that nobody confirmed (a crash, a broker outage)."""
        assert self.sessions is not None
        self._flush_marks()
        with self.sessions() as session, session.begin():
            left = self.tables.outbox.unpublished(session, self.clock.now() - grace, 500)
            if left:
                self.publisher.republish(left)
                self.tables.outbox.mark_published(session, [e.id for e in left], self.clock.now())
                log.info("%s: published %d messages left in the outbox", self.name, len(left))
            metrics.OUTBOX_BACKLOG.labels(self.name).set(self.tables.outbox.backlog(session))
            metrics.RETRY_BACKLOG.labels(self.name).set(self.tables.timers.retrying(session))
