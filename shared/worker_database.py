"""A worker's own database as the parts of its runtime share it."""

from __future__ import annotations

from sqlalchemy import Engine, MetaData, event, text
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics
from shared.database import open_database
from shared.health import Health


class WorkerDatabase:
    """One ``sessions`` for every part of a worker (swapped, it is swapped for all), and whether
    the database answers, as the worker's health reports it."""

    def __init__(self, health: Health) -> None:
        self.health = health
        self.sessions: sessionmaker[Session] | None = None

    def open(self, url: str, metadata: MetaData) -> None:
        self.sessions = open_database(url, metadata)
        count_statements(self.sessions.kw["bind"], self.health.worker)
        self.answered()

    @property
    def opened(self) -> sessionmaker[Session]:
        assert self.sessions is not None, "start() first"
        return self.sessions

    def answered(self) -> None:
        """It just did its work: it is up."""
        self.health.database(None)

    def answers(self) -> bool:
        """Whether the database answers a trivial query: an outage, or just this message?"""
        try:
            with self.opened() as session:
                session.execute(text("SELECT 1"))
        except Exception as error:
            self.health.database(f"{type(error).__name__}: {error}"[:300])
            return False
        self.answered()
        return True


def count_statements(engine: Engine, worker: str) -> None:
    """Count what ``engine`` sends as ``orderflow_database_statements_total``: statements per
    order is a cost the bench reports, and the database's own statistics count transactions and
    rows, not statements."""
    statements = metrics.DATABASE_STATEMENTS.labels(worker)

    def counted(*_: object) -> None:
        statements.inc()

    event.listen(engine, "before_cursor_execute", counted)
