"""Reporting's specification again, on PostgreSQL: its batches are written with SQL of each
dialect's own (``INSERT ... ON CONFLICT``, ``services.reporting.upserts``), so the rules that
merge a row are checked where a deployment runs them, not only on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

from shared.database import drop_postgres_database, ensure_postgres_database, make_engine
from shared.runtime_tables import RuntimeTables
from shared.service import Service
from tests.unit.reporting.test_reporting_handlers import *  # noqa: F403  the same tests


@pytest.fixture(scope="module")
def database(postgres_url: str) -> Iterator[Engine]:
    """One database for the module: each session gets a schema of its own in it."""
    name = f"reporting_spec_{uuid.uuid4().hex[:10]}"
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    ensure_postgres_database(make_url(url))
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop_postgres_database(url)


@pytest.fixture
def session_for(database: Engine) -> Iterator[Callable[[Service], Session]]:
    """A session on a fresh schema holding ``service``'s tables, per call."""
    sessions: list[Session] = []

    def make(service: Service) -> Session:
        RuntimeTables(service.metadata)
        schema = f"spec_{uuid.uuid4().hex[:10]}"
        with database.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = database.execution_options(schema_translate_map={None: schema})
        service.metadata.create_all(engine)
        session = Session(engine, expire_on_commit=False)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()
