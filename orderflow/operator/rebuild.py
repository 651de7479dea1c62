"""Rebuilding reporting's read model from the event history (``orderflow report rebuild``).

Where the history comes from:
- On RabbitMQ, a stream bound to every event (``Topology.history_queue``, declared by the
  reporting worker). The rebuild puts an end marker into it through the default exchange, empties
  the read model, and reads the stream from its first offset until it meets its marker.
- On kombu's in-memory transport (the embedded demo) there are no streams. There the history is
  the workers' outboxes, which keep every event they announced (``shared.outbox``), merged in
  the order they were written.

Each event reporting handles goes through reporting's own handlers, a batch per transaction.
The live worker may go on meanwhile: its handlers and the rebuild's set the same fields to the
same values whatever the order (``services.reporting.model``), so the read model ends the same.
An event that does not read as its contract is skipped and counted with its reason, as the live
worker would park it.
"""

from __future__ import annotations

import collections
import heapq
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal, TypeVar

from kombu import Connection, Consumer, Queue
from kombu.message import Message as Delivery
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.reporting.model import ReportedOrder
from shared.database import open_database
from shared.envelope import Envelope, InvalidMessage, decode, open_payload
from shared.outbox import traced
from shared.service import Service, call
from shared.settings import Settings
from shared.topology import Topology

from ..cluster.databases import WorkerDatabases
from ..cluster.registry import NAMES, build

Source = Literal["stream", "outboxes"]
Event = Envelope | InvalidMessage
MARKER = "orderflow-rebuild-marker"
"""The header of the message a rebuild puts at the end of the history to know where it ends."""
QUIET_SECONDS = 30.0
"""How long the stream may stay silent before the rebuild gives up waiting for its marker."""
PREFETCH = 1000
T = TypeVar("T")


class HistoryUnreadable(RuntimeError):
    """The history could not be read to its end."""


@dataclass
class Rebuilt:
    source: Source
    events: int = 0
    skipped: collections.Counter[str] = field(default_factory=collections.Counter)
    orders: int = 0


def rebuild(settings: Settings, source: Source | None = None, batch: int = 500) -> Rebuilt:
    """Empty reporting's read model and replay the history into it."""
    chosen: Source = source or (
        "outboxes" if settings.broker_url.startswith("memory") else "stream"
    )
    service = build("reporting")
    sessions = open_database(settings.database_url_for("reporting"), service.metadata, True)
    wanted = {contract.type for contract in service.subscriptions}
    result = Rebuilt(chosen)
    try:
        with history(settings, chosen) as events:
            _empty(sessions, service)
            for chunk in _chunks(events, batch):
                _apply(service, sessions, [e for e in chunk if _wanted(e, wanted, result)], result)
        with sessions() as session:
            result.orders = int(session.scalar(select(func.count(ReportedOrder.order_id))) or 0)
    finally:
        sessions.kw["bind"].dispose()
    return result


@contextmanager
def history(settings: Settings, source: Source) -> Iterator[Iterator[Event]]:
    """The history's events in order (or why one could not be read), while it is open."""
    if source == "outboxes":
        databases = WorkerDatabases(settings, [name for name in NAMES if name != "reporting"])
        try:
            yield _outbox_events(databases)
        finally:
            databases.dispose()
        return
    with Connection(settings.broker_url) as connection:
        stream = StreamHistory(connection, Topology.of(settings), settings.max_message_bytes)
        yield stream.read()


class StreamHistory:
    def __init__(self, connection: Connection, topology: Topology, max_bytes: int) -> None:
        self.connection = connection
        self.name = topology.history_queue_name()
        self.max_bytes = max_bytes
        self.marker = uuid.uuid4().hex
        self.channel = connection.channel()
        self._mark()

    def _mark(self) -> None:
        """The end of what this rebuild replays: everything the stream held before now."""
        producer = self.connection.Producer(channel=self.channel)
        producer.publish(
            b"{}", exchange="", routing_key=self.name, headers={MARKER: self.marker}, retry=True
        )

    def read(self) -> Iterator[Event]:
        arrived: collections.deque[Delivery] = collections.deque()
        self.channel.basic_qos(0, PREFETCH, False)
        queue = Queue(self.name, no_declare=True, consumer_arguments={"x-stream-offset": "first"})
        with Consumer(self.channel, [queue], on_message=arrived.append, no_ack=False):
            while True:
                while not arrived:
                    self._wait()
                delivery = arrived.popleft()
                if not arrived or len(arrived) % 100 == 0:
                    delivery.ack(multiple=True)  # a stream's consumer acks to get more credit
                mark = (delivery.headers or {}).get(MARKER)
                if mark == self.marker:
                    return
                if mark is None:  # another rebuild's marker is no event
                    yield _decoded(delivery.body, self.max_bytes)

    def _wait(self) -> None:
        try:
            self.connection.drain_events(timeout=QUIET_SECONDS)
        except TimeoutError as error:
            raise HistoryUnreadable(
                f"{self.name}: nothing for {QUIET_SECONDS:.0f} s before the rebuild's end marker"
            ) from error


def _decoded(body: bytes, max_bytes: int) -> Event:
    try:
        return decode(body, max_bytes)
    except InvalidMessage as problem:
        return problem


def _outbox_events(databases: WorkerDatabases) -> Iterator[Event]:
    def rows(worker: str) -> Iterator[tuple[Any, Envelope]]:
        c = databases.tables[worker].outbox.table.c
        query = select(c.created_at, c.body, c.traceparent, c.tracestate).order_by(c.created_at)
        with databases.session(worker) as session:
            for at, body, parent, state in session.execute(query):
                yield at, traced(body, parent, state)

    merged = heapq.merge(*(rows(w) for w in databases.sessions), key=lambda row: row[0])
    return (envelope for _, envelope in merged)


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _wanted(event: Event, wanted: set[str], result: Rebuilt) -> bool:
    if isinstance(event, InvalidMessage):
        result.skipped[str(event)] += 1
        return False
    return event.type in wanted


def _apply(
    service: Service, sessions: sessionmaker[Session], envelopes: list[Event], result: Rebuilt
) -> None:
    opened = []
    for envelope in envelopes:
        assert isinstance(envelope, Envelope)
        try:
            opened.append((open_payload(envelope), envelope))
        except InvalidMessage as problem:
            result.skipped[str(problem)] += 1
    with sessions() as session, session.begin():
        uow = service.unit_of_work(session)
        uow.preload([message for message, _ in opened])
        for message, envelope in opened:
            list(call(service.handlers[type(message)], message, uow, envelope))
    result.events += len(opened)


def _empty(sessions: sessionmaker[Session], service: Service) -> None:
    """Every row of the read model, in one transaction (children first)."""
    with sessions() as session, session.begin():
        for table in reversed(service.metadata.sorted_tables):
            if table.name.startswith("reported_"):
                session.execute(delete(table))
