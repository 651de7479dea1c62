"""The runtime loop every worker runs: take a batch, handle it in one transaction, ack, publish.

One pass of ``poll``:
1. take up to ``batch_size`` deliveries; decode and validate each (bad ones go to the parking lot);
2. in one transaction: skip ids the inbox has seen, call the handlers, write their announcements
   to the outbox, their timers to the timer table and the ids to the inbox; commit;
3. publish the parked messages with confirms, then ack the whole batch with one frame;
4. publish the new outbox rows with one confirm wait; they are marked published in the next
   transaction (or on their own when the worker is idle);
5. fire due timers the same way, and now and then sweep the outbox for rows a crash left behind.

A failing batch is retried one message at a time so one bad message cannot hold the others back.
Transient errors (database or broker trouble, a gateway timeout) are retried with backoff and,
if they persist, the deliveries stay unacked and are tried again; permanent ones are parked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kombu.message import Message as Delivery
from sqlalchemy import MetaData
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from shared import metrics
from shared.clock import Clock, SystemClock
from shared.contracts import Message, contract_for
from shared.database import open_database
from shared.envelope import Envelope, InvalidMessage, decode, open_payload, wrap
from shared.errors import is_transient
from shared.handlers import Service, call
from shared.inbox import Inbox, inbox_table
from shared.messaging import BrokerLink, Outgoing
from shared.outbox import Outbox, outbox_table
from shared.settings import Settings
from shared.timers import Scheduled, Timers, timers_table
from shared.topology import Topology

log = logging.getLogger("orderflow.worker")

OUTBOX_GRACE = timedelta(seconds=5)


class TransientFailure(Exception):
    """Retries ran out on an error that should pass; the batch stays unacked."""


@dataclass(frozen=True, eq=False)
class Inbound:
    """A message to handle: from the queue (with its delivery) or from a due timer."""

    envelope: Envelope
    message: Message | None = None
    problem: InvalidMessage | None = None
    delivery: Delivery | None = None
    forward: bool = False

    @property
    def body(self) -> bytes:
        return body_of(self.delivery) if self.delivery else self.envelope.encode()


@dataclass(frozen=True)
class Parked:
    body: bytes
    reason: str
    kind: str
    origin: str
    exception: str = ""
    attempts: int = 1

    @classmethod
    def delivery(cls, delivery: Delivery, reason: str, kind: str) -> Parked:
        return cls(body_of(delivery), reason, kind, cls.origin_of(delivery))

    @staticmethod
    def origin_of(delivery: Delivery) -> str:
        info = delivery.delivery_info or {}
        return f"{info.get('exchange', '')}/{info.get('routing_key', '')}"


def body_of(delivery: Delivery) -> bytes:
    """The body as sent (py-amqp hands back text when a content encoding was given)."""
    body = delivery.body
    return body.encode() if isinstance(body, str) else bytes(body)


class RuntimeTables:
    """The runtime's own tables, added once to a worker's metadata."""

    def __init__(self, metadata: MetaData) -> None:
        tables = metadata.tables
        self.inbox = Inbox(tables["inbox"] if "inbox" in tables else inbox_table(metadata))
        self.outbox = Outbox(tables["outbox"] if "outbox" in tables else outbox_table(metadata))
        self.timers = Timers(tables["timers"] if "timers" in tables else timers_table(metadata))


class Worker:
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
        self._unmarked: list[str] = []
        self._next_timer_check = 0.0
        self._next_sweep = 0.0
        self._next_after_commit = 0.0
        self._backoff = 0.0

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.sessions = open_database(
            self.settings.database_url_for(self.name), self.service.metadata
        )
        self.link.connect()
        queue = self.topology.worker_queue(self.name, self.service.subscriptions)
        t = self.topology
        self.link.declare([t.events, t.commands, t.parking, t.parking_queue(self.name), queue])
        self.link.consume(queue, self.settings.prefetch)
        self.sweep_outbox(grace=timedelta(0))

    def run(self, stop: threading.Event, wait: float = 0.2) -> None:
        """Poll until ``stop`` is set; the batch in hand is finished, committed and acked."""
        self.start()
        try:
            while not stop.is_set():
                self.poll(wait)
        finally:
            self.close()

    def close(self) -> None:
        if self.sessions is not None:
            self._flush_marks()
        self.link.close()

    # -- one pass ---------------------------------------------------------------------------

    def poll(self, wait: float = 0.0) -> int:
        """Do whatever work is ready; returns how many messages and timers were handled."""
        done = 0
        try:
            if self.link.fill(self.settings.batch_size, wait):
                done += self._handle_deliveries(self.link.take(self.settings.batch_size))
            now = time.monotonic()
            if now >= self._next_timer_check:
                done += self.fire_timers()
                self._next_timer_check = now + self.settings.timer_poll_seconds
            if done or now >= self._next_after_commit:
                self.run_after_commit()
                self._next_after_commit = now + self.settings.timer_poll_seconds
            if now >= self._next_sweep:
                self.sweep_outbox(OUTBOX_GRACE)
                self._next_sweep = now + self.settings.outbox_sweep_seconds
            if not done:
                self._flush_marks()
            self._backoff = 0.0
        except TransientFailure as failure:
            self._backoff = min(max(self._backoff * 2, 0.1), 5.0)
            log.warning("%s: %s; retrying in %.1fs", self.name, failure, self._backoff)
            time.sleep(self._backoff)
        self.link.heartbeat()
        return done

    def _handle_deliveries(self, deliveries: list[Delivery]) -> int:
        items: list[Inbound] = []
        parked: list[Parked] = []
        for delivery in deliveries:
            item = self._open(delivery, parked)
            if item is not None:
                items.append(item)
        try:
            parked += self._handle(items)
        except TransientFailure:
            self.link.buffer[:0] = deliveries
            raise
        self._park(parked)
        self.link.ack(deliveries)
        return len(items)

    def _open(self, delivery: Delivery, parked: list[Parked]) -> Inbound | None:
        try:
            envelope = decode(delivery.body, self.settings.max_message_bytes)
        except InvalidMessage as problem:
            parked.append(Parked.delivery(delivery, problem.reason, "malformed"))
            return None
        contract = contract_for(envelope.type)
        if contract is None or contract not in self.service.handlers:
            reason = f"{self.name} has no handler for message type {envelope.type!r}"
            parked.append(Parked.delivery(delivery, reason, "unknown_type"))
            return None
        try:
            return Inbound(envelope, message=open_payload(envelope), delivery=delivery)
        except InvalidMessage as problem:
            if contract in self.service.invalid_handlers:
                return Inbound(envelope, problem=problem, delivery=delivery)
            parked.append(Parked.delivery(delivery, problem.reason, "invalid"))
            return None

    # -- handling ---------------------------------------------------------------------------

    def _handle(self, items: list[Inbound]) -> list[Parked]:
        """Handle ``items`` in one transaction; if that fails, one by one. Returns what to park."""
        if not items:
            return []
        try:
            self._publish(self._transaction(items))
            return []
        except Exception as error:
            if len(items) == 1:
                return self._handle_alone(items[0], error)
            log.info("%s: a batch of %d failed (%r); one by one", self.name, len(items), error)
        return [parked for item in items for parked in self._handle_alone(item)]

    def _handle_alone(self, item: Inbound, error: Exception | None = None) -> list[Parked]:
        attempts = 1
        try:
            if error is not None and not is_transient(error):
                raise error
            for attempt in self._retrying():
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    self._publish(self._transaction([item]))
            return []
        except Exception as failure:
            if is_transient(failure):
                what = f"{item.envelope.type} {item.envelope.id}"
                raise TransientFailure(f"{what}: {failure!r}") from failure
            return [self._parked_failure(item, failure, attempts)]

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.settings.handler_attempts),
            wait=wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.05),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )

    def _parked_failure(self, item: Inbound, failure: Exception, attempts: int) -> Parked:
        envelope = item.envelope
        log.error("%s: %s %s failed: %r", self.name, envelope.type, envelope.id, failure)
        metrics.MESSAGES.labels(self.name, envelope.type, "failed").inc()
        if item.delivery is not None:
            origin = Parked.origin_of(item.delivery)
        else:
            origin = f"timer/{envelope.type}"
        error = type(failure).__name__
        return Parked(item.body, str(failure), "handler_error", origin, error, attempts)

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

    # -- publishing -------------------------------------------------------------------------

    def _publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish committed outbox rows; if the broker fails, the sweep publishes them later."""
        if not envelopes:
            return
        try:
            self.link.publish_confirmed([self._outgoing(e) for e in envelopes])
        except Exception:
            log.warning(
                "%s: publishing %d messages failed; the outbox keeps them",
                self.name,
                len(envelopes),
                exc_info=True,
            )
            return
        self._unmarked += [e.id for e in envelopes]
        for envelope in envelopes:
            metrics.PUBLISHED.labels(self.name, envelope.type).inc()

    def _outgoing(self, envelope: Envelope) -> Outgoing:
        contract = contract_for(envelope.type)
        exchange = (
            self.topology.commands
            if contract and contract.kind == "command"
            else self.topology.events
        )
        return Outgoing(
            body=envelope.encode(),
            exchange=exchange,
            routing_key=envelope.type,
            message_id=envelope.id,
            correlation_id=envelope.correlationid,
        )

    def _park(self, parked: list[Parked]) -> None:
        if not parked:
            return
        now = self.clock.now().isoformat()
        self.link.publish_confirmed(
            [
                Outgoing(
                    body=p.body,
                    exchange=self.topology.parking,
                    routing_key=self.name,
                    message_id=f"parked-{i}-{time.time_ns()}",
                    headers={
                        "x-orderflow-reason": p.reason[:2000],
                        "x-orderflow-kind": p.kind,
                        "x-orderflow-exception": p.exception,
                        "x-orderflow-worker": self.name,
                        "x-orderflow-origin": p.origin,
                        "x-orderflow-attempts": p.attempts,
                        "x-orderflow-parked-at": now,
                    },
                    content_type="application/octet-stream",
                )
                for i, p in enumerate(parked)
            ]
        )
        for p in parked:
            metrics.PARKED.labels(self.name, p.kind).inc()
            log.warning("%s: parked a message (%s): %s", self.name, p.kind, p.reason)

    def _flush_marks(self) -> None:
        if self._unmarked and self.sessions is not None:
            with self.sessions() as session, session.begin():
                self.tables.outbox.mark_published(session, self._unmarked, self.clock.now())
            self._unmarked = []

    # -- timers and the outbox sweep --------------------------------------------------------

    def fire_timers(self) -> int:
        """Handle (or forward) due timers in the transaction that claims them.

        If a batch of timers fails, each is fired on its own and one that can never succeed
        is parked and removed, so it cannot block the timers behind it.
        """
        due = self.next_timer_due()
        if due is None or due > self.clock.now():
            return 0
        try:
            return self._fire(None)
        except Exception as error:
            if is_transient(error):
                raise TransientFailure(f"timers: {error!r}") from error
        fired = 0
        for message_id in self._due_ids():
            try:
                fired += self._fire(message_id)
            except Exception as failure:
                if is_transient(failure):
                    raise TransientFailure(f"timer {message_id}: {failure!r}") from failure
                self._park_timer(message_id, failure)
        return fired

    def _fire(self, message_id: str | None) -> int:
        fired: list[Inbound] = []

        def claim(session: Session) -> list[Inbound]:
            due = self.tables.timers.claim_due(
                session, self.clock.now(), self.settings.batch_size, message_id
            )
            self.tables.timers.remove(session, [e.id for e in due])
            fired[:] = [self._timer_item(e) for e in due]
            return fired

        self._publish(self._transaction([], claim))
        return len(fired)

    def _due_ids(self) -> list[str]:
        assert self.sessions is not None
        with self.sessions() as session:
            due = self.tables.timers.claim_due(session, self.clock.now(), self.settings.batch_size)
            return [e.id for e in due]

    def _park_timer(self, message_id: str, failure: Exception) -> None:
        assert self.sessions is not None
        with self.sessions() as session, session.begin():
            due = self.tables.timers.claim_due(session, self.clock.now(), 1, message_id)
            self._park([self._parked_failure(Inbound(e), failure, 1) for e in due])
            self.tables.timers.remove(session, [e.id for e in due])

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
            done = self.service.after_commit(self.sessions, announce)
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
            return self.tables.timers.next_due(session)

    def _timer_item(self, envelope: Envelope) -> Inbound:
        contract = contract_for(envelope.type)
        if contract is None or contract not in self.service.handlers:
            return Inbound(envelope, forward=True)
        return Inbound(envelope, message=open_payload(envelope))

    def sweep_outbox(self, grace: timedelta) -> None:
        """Publish rows older than ``grace`` that nobody confirmed (a crash, a broker outage)."""
        assert self.sessions is not None
        with self.sessions() as session, session.begin():
            left = self.tables.outbox.unpublished(session, self.clock.now() - grace, 500)
            if left:
                self.link.publish_confirmed([self._outgoing(e) for e in left])
                self.tables.outbox.mark_published(session, [e.id for e in left], self.clock.now())
                log.info("%s: published %d messages left in the outbox", self.name, len(left))
            metrics.OUTBOX_BACKLOG.labels(self.name).set(self.tables.outbox.backlog(session))
