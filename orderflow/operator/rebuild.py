"""Rebuilding reporting's read model from the event history (``orderflow report rebuild``).

The history is the workers' outboxes: each keeps every event it announced (``shared.outbox``),
so merged in the order they were written they are every event there was. Each event reporting
handles goes through reporting's own handlers, a batch per transaction.
The live worker may go on meanwhile: its handlers and the rebuild's set the same fields to the
same values whatever the order (``services.reporting.model``), so the read model ends the same.
An event that does not read as its contract is skipped and counted with its reason, as the live
worker would park it.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.reporting.model import ReportedOrder
from shared.database import open_database
from shared.envelope import Envelope, InvalidMessage, open_payload
from shared.outbox import traced
from shared.service import Service, call
from shared.settings import Settings

from ..cluster.databases import WorkerDatabases
from ..cluster.registry import NAMES, build

T = TypeVar("T")


@dataclass
class Rebuilt:
    events: int = 0
    skipped: collections.Counter[str] = field(default_factory=collections.Counter)
    orders: int = 0


def rebuild(settings: Settings, batch: int = 500) -> Rebuilt:
    """Empty reporting's read model and replay the history into it."""
    service = build("reporting")
    sessions = open_database(settings.database_url_for("reporting"), service.metadata, True)
    wanted = {contract.type for contract in service.subscriptions}
    result = Rebuilt()
    databases = WorkerDatabases(settings, [name for name in NAMES if name != "reporting"])
    try:
        _empty(sessions, service)
        for chunk in _chunks(_outbox_events(databases), batch):
            _apply(service, sessions, [e for e in chunk if e.type in wanted], result)
        with sessions() as session:
            result.orders = int(session.scalar(select(func.count(ReportedOrder.order_id))) or 0)
    finally:
        databases.dispose()
        sessions.kw["bind"].dispose()
    return result


def _outbox_events(databases: WorkerDatabases) -> Iterator[Envelope]:
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


def _apply(
    service: Service, sessions: sessionmaker[Session], envelopes: list[Envelope], result: Rebuilt
) -> None:
    opened = []
    for envelope in envelopes:
        try:
            opened.append((open_payload(envelope), envelope))
        except InvalidMessage as problem:
            result.skipped[str(problem)] += 1
    with sessions() as session, session.begin():
        uow = service.unit_of_work(session)
        for message, envelope in opened:
            list(call(service.handlers[type(message)], message, uow, envelope))
        uow.finish()
    result.events += len(opened)


def _empty(sessions: sessionmaker[Session], service: Service) -> None:
    """Every row of the read model, in one transaction (children first)."""
    with sessions() as session, session.begin():
        for table in reversed(service.metadata.sorted_tables):
            if table.name.startswith("reported_"):
                session.execute(delete(table))
