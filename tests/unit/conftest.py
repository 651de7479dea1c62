"""Unit tests run handlers against a real SQLite database in memory, through the worker's
own unit of work: our stores are never faked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from shared.clock import ManualClock
from shared.contracts import Message, StockItemListed, contract_for
from shared.envelope import Envelope, InvalidMessage, wrap
from shared.runtime_tables import RuntimeTables
from shared.service import Service, call
from shared.timers import Scheduled

UnitOfWork = TypeVar("UnitOfWork")


def handle(
    service: Service, message: Message, uow: Any, envelope: Envelope | None = None
) -> list[Message | Scheduled]:
    """What ``service``'s handler for ``message`` returns, called as the runtime calls it: its
    dependencies injected by the bootstrap, the envelope given if the handler asks for one."""
    handler = service.handlers[type(message)]
    return list(call(handler, message, uow, envelope or wrap(message, source="test")))


def handle_invalid(
    service: Service, envelope: Envelope, problem: InvalidMessage, uow: Any
) -> list[Message | Scheduled]:
    """What ``service``'s handler for an invalid ``envelope`` returns, as the runtime calls it."""
    contract = contract_for(envelope.type)
    assert contract is not None
    return list(service.invalid_handlers[contract](envelope, problem, uow))


def listed(service: Service, uow: UnitOfWork, *skus: str) -> UnitOfWork:
    """``uow`` once ``service`` (intake) heard stock list ``skus``, by default the SKU the
    factories order, through its handler as the runtime calls it."""
    for sku in skus or ("MUG-BLUE",):
        list(service.handlers[StockItemListed](StockItemListed(sku=sku), uow))
    return uow


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def session_for() -> Iterator[Callable[[Service], Session]]:
    """A session on a fresh in-memory database holding ``service``'s tables."""
    sessions: list[Session] = []

    def make(service: Service) -> Session:
        RuntimeTables(service.metadata)
        engine = create_engine("sqlite://")
        service.metadata.create_all(engine)
        session = Session(engine, expire_on_commit=False)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def selects(self) -> int:
        return sum(1 for s in self.statements if s.lstrip().upper().startswith("SELECT"))


@pytest.fixture
def count_queries() -> Callable[[Session], QueryCounter]:
    """Record every SQL statement a session's engine runs from now on."""
    from sqlalchemy import event

    def start(session: Session) -> QueryCounter:
        counter = QueryCounter()
        engine = session.get_bind()

        @event.listens_for(engine, "before_cursor_execute")
        def _record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            counter.statements.append(statement)

        return counter

    return start
