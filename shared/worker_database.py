"""A worker's own database as the parts of its runtime share it."""

from __future__ import annotations

from sqlalchemy import MetaData, text
from sqlalchemy.orm import Session, sessionmaker

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
