"""Engines for a worker's own database: SQLite by default, PostgreSQL by URL.

Every engine hides statement parameters, in its log lines and in the errors it raises, and never
logs the rows it reads (``without_rows``): their values are customers' names and addresses, and
neither logs nor error text may carry them, whatever level SQLAlchemy's loggers are set to.

A PostgreSQL database that does not exist yet is created on first start, so giving each
worker its own database is a matter of the URL alone. Tables are created on start too, and a
column a newer version adds to an existing table (nullable or with a server default) is added.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from psycopg.errors import DuplicateDatabase, UniqueViolation
from pydantic import TypeAdapter
from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    any_,
    bindparam,
    create_engine,
    event,
    inspect,
    make_url,
    or_,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker
from sqlalchemy.schema import CreateColumn
from sqlalchemy.sql.base import Executable
from sqlalchemy.types import TypeDecorator

S = TypeVar("S", bound=Executable)


def open_database(url: str, metadata: MetaData, pre_ping: bool = False) -> sessionmaker[Session]:
    """The worker's tables, created (or given new columns) as needed. ``pre_ping`` checks each
    pooled connection before use: for tools that read now and then, not for a worker's loop."""
    engine = make_engine(url, pre_ping)
    _create_tables(engine, metadata)
    add_missing_columns(engine, metadata)
    return sessionmaker(engine, expire_on_commit=False)


def _create_tables(engine: Engine, metadata: MetaData, tries: int = 3) -> None:
    """``create_all``, tried again when another process (a replica, a tool) created a table
    between this one's check and its ``CREATE``: PostgreSQL then refuses the second."""
    for attempt in range(tries):
        try:
            metadata.create_all(engine)
            return
        except (ProgrammingError, IntegrityError):
            if attempt == tries - 1:
                raise


def add_missing_columns(engine: Engine, metadata: MetaData) -> None:
    """Add the columns of ``metadata``'s tables that the database's tables lack (additive
    changes only: such a column must be nullable or have a server default)."""
    tables = inspect(engine)
    preparer = engine.dialect.identifier_preparer
    if_absent = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            present = {column["name"] for column in tables.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    definition = CreateColumn(column).compile(dialect=engine.dialect)
                    connection.execute(
                        text(
                            f"ALTER TABLE {preparer.format_table(table)} "
                            f"ADD COLUMN {if_absent}{definition}"
                        )
                    )


def without_rows(record: logging.LogRecord) -> bool:
    """SQLAlchemy's engine logs statements at INFO (their parameters hidden) and every row it
    reads at DEBUG: never the rows."""
    return record.levelno > logging.DEBUG


logging.getLogger("sqlalchemy.engine.Engine").addFilter(without_rows)


def make_engine(url: str, pre_ping: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        ensure_postgres_database(parsed)
        # A worker does without pre-ping (a round trip per transaction): a connection a restart
        # killed fails its transaction with a disconnect, which makes SQLAlchemy discard the
        # whole pool, and the runtime retries the transaction as transient.
        return create_engine(
            parsed,
            pool_pre_ping=pre_ping,
            pool_size=2,
            max_overflow=2,
            hide_parameters=True,
        )
    return create_engine(parsed, hide_parameters=True)


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return engine


def ensure_postgres_database(url: URL) -> None:
    """Create the worker's database unless it exists. Two replicas starting together may both
    find it missing: the one whose CREATE comes second finds it made, which is what it wanted."""
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            ).scalar()
            if not exists:
                try:
                    connection.execute(text(f'CREATE DATABASE "{url.database}"'))
                except (ProgrammingError, IntegrityError) as error:
                    if not isinstance(error.orig, DuplicateDatabase | UniqueViolation):
                        raise  # (at the same instant, the catalog's unique index says so)
    finally:
        admin.dispose()


def drop_postgres_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: orderflow stores UTC only")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class TypedJson(TypeDecorator[Any]):
    """A JSON column that holds ``kind`` (a pydantic model, a list or dict of them, a
    TypedDict...), validated as it is read and dumped in JSON mode as it is written: the row
    holds the same JSON a ``model_dump(mode="json")`` would, and a model reads back as one.

    ``None`` passes through untouched, so a nullable column is ``TypedJson(Model)`` under
    ``Mapped[Model | None]``; like a plain ``JSON`` column, a ``None`` assigned is stored as
    JSON ``null``. A value changed in place is not seen: assign a new one.
    """

    impl = JSON
    cache_ok = True
    should_evaluate_none = True

    def __init__(self, kind: Any) -> None:
        super().__init__()
        self.kind = kind
        self._adapter: TypeAdapter[Any] = TypeAdapter(kind)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else self._adapter.dump_python(value, mode="json")

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else self._adapter.validate_python(value)


def of_subject(column: ColumnElement[str], subject: str) -> ColumnElement[bool]:
    """``subject`` itself or one of its sub-subjects ``<subject>.<n>``: an order's after-sales
    cases and their replacements belong to the order."""
    return or_(column == subject, column.startswith(subject + ".", autoescape=True))


class KeyedStatement(Generic[S]):
    """A statement over a list of keys bound as ``:keys`` when it runs, built once per dialect.

    On PostgreSQL the keys are one array parameter (``column = ANY(:keys)``), elsewhere an
    expanding ``IN``. Built once, a statement skips SQLAlchemy's construction and coercion on
    every batch; with one array parameter its text is the same however many keys a batch names,
    so psycopg parses it once and PostgreSQL prepares it (an ``IN`` of a hundred keys is a new,
    long statement, parsed again every time: up to a tenth of a worker's CPU under load)."""

    def __init__(
        self,
        column: ColumnElement[Any] | QueryableAttribute[Any],
        build: Callable[[ColumnElement[bool]], S],
    ) -> None:
        self.column = column
        self.build = build
        self._built: dict[str, S] = {}

    def on(self, session: Session) -> S:
        dialect = session.get_bind().dialect.name
        statement = self._built.get(dialect)
        if statement is None:
            statement = self._built[dialect] = self.build(self._where(dialect))
        return statement

    def _where(self, dialect: str) -> ColumnElement[bool]:
        if dialect == "postgresql":
            return self.column == any_(bindparam("keys", type_=ARRAY(self.column.type)))
        return self.column.in_(bindparam("keys", expanding=True))
