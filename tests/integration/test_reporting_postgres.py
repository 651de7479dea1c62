"""Reporting's specification again, on PostgreSQL: its batches are written with SQL of each
dialect's own (``INSERT ... ON CONFLICT``, ``services.reporting.upserts``), so the rules that
merge a row are checked where a deployment runs them, not only on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import make_url
from sqlalchemy.orm import Session

from shared.database import drop_postgres_database, open_database
from shared.runtime_tables import RuntimeTables
from shared.service import Service
from tests.unit.reporting.test_reporting_handlers import *  # noqa: F403  the same tests


@pytest.fixture
def session_for(postgres_url: str) -> Iterator[Callable[[Service], Session]]:
    """A session on a fresh PostgreSQL database holding ``service``'s tables, per call."""
    sessions: list[Session] = []
    urls: list[str] = []

    def make(service: Service) -> Session:
        RuntimeTables(service.metadata)
        name = f"reporting_spec_{uuid.uuid4().hex[:10]}"
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        urls.append(url)
        session = open_database(url, service.metadata)(expire_on_commit=False)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()
        session.get_bind().dispose()  # type: ignore[union-attr]
    for url in urls:
        drop_postgres_database(url)
