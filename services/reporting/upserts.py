"""Rows written a batch at a time. What a batch's events say about one row is merged in memory
first, then with what the table holds, in one ``INSERT ... ON CONFLICT`` per table (PostgreSQL
and SQLite both have it): no row is read, and no ORM object is made, per event.

Two values of a column merge by the column's rule, the same in memory and in SQL, so a row ends
the same whatever order its events come in, in one batch or many, and however often."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, case, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session

Row = dict[str, Any]


@dataclass(frozen=True)
class Keep:
    """The first value known stays (what an order is: its channel, its currency...)."""


@dataclass(frozen=True)
class Earliest:
    """The earlier of two times (when a step was first reached)."""


@dataclass(frozen=True)
class Follows:
    """Taken from the side whose ``column`` is the earlier (a cancel's reason goes with the
    first cancel); kept as known when neither side has it."""

    column: str


Rule = Keep | Earliest | Follows
KEEP = Keep()
EARLIEST = Earliest()


def merged(rules: Mapping[str, Rule], known: Row, new: Mapping[str, Any]) -> Row:
    """``known``, one row's values, with what ``new`` says of some of its columns merged in by
    ``rules`` (a column not named keeps its first value)."""
    changed = {column: _merge(rules.get(column, KEEP), column, known, new) for column in new}
    return known | changed


def _merge(rule: Rule, column: str, known: Row, new: Mapping[str, Any]) -> Any:
    first = known[column] if known[column] is not None else new[column]
    if isinstance(rule, Earliest):
        return new[column] if _earlier(new[column], known[column]) else first
    if isinstance(rule, Follows):
        return new[column] if _earlier(new.get(rule.column), known[rule.column]) else first
    return first


def _earlier(new: Any, known: Any) -> bool:
    return new is not None and (known is None or new < known)


def _sql(rule: Rule, column: str, table: Table, new: Any) -> ColumnElement[Any]:
    """``_merge`` in SQL: ``table`` is what the row holds, ``new`` the row offered."""
    first = func.coalesce(table.c[column], new[column])
    if isinstance(rule, Earliest):
        return case((_sql_earlier(new[column], table.c[column]), new[column]), else_=first)
    if isinstance(rule, Follows):
        when = _sql_earlier(new[rule.column], table.c[rule.column])
        return case((when, new[column]), else_=first)
    return first


def _sql_earlier(new: Any, known: Any) -> ColumnElement[bool]:
    return and_(new.is_not(None), or_(known.is_(None), new < known))


class Pending:
    """One model's table's rows that a batch changes, by key, merged as they come; written by
    ``write``. Without ``rules`` a row is added once, and a row already there stays as it is
    (refunds by id, an order's lines)."""

    def __init__(
        self, model: type[DeclarativeBase], rules: Mapping[str, Rule] | None = None
    ) -> None:
        table = self.table = cast(Table, model.__table__)
        self.rules = rules
        self.key = [column.name for column in table.primary_key]
        self.empty: Row = {column.name: None for column in table.columns}
        self.rows: dict[tuple[Any, ...], Row] = {}

    def add(self, **values: Any) -> None:
        key = tuple(values[column] for column in self.key)
        known = self.rows.get(key)
        if known is None:
            self.rows[key] = self.empty | values
        elif self.rules is not None:
            self.rows[key] = merged(self.rules, known, values)

    def write(self, session: Session) -> None:
        """The rows, merged with the table's, in one statement; in key order, so two replicas
        writing the same rows lock them in the same order."""
        if self.rows:
            rows = [self.rows[key] for key in sorted(self.rows)]
            session.execute(self._statement(session), rows)
            self.rows.clear()

    def _statement(self, session: Session) -> Any:
        rules = tuple(sorted(self.rules.items())) if self.rules is not None else None
        return upsert(self.table, session.get_bind().dialect.name, rules)


@functools.cache
def upsert(table: Table, dialect_name: str, rules: tuple[tuple[str, Rule], ...] | None) -> Any:
    """The statement that writes ``table``'s rows by ``rules`` (None: add once), made once per
    table: building its expressions costs more than running it."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert = dialect.insert(table)
    key = [column.name for column in table.primary_key]
    if rules is None:
        return insert.on_conflict_do_nothing(index_elements=key)
    by_column = dict(rules)
    changed = [column.name for column in table.columns if column.name not in key]
    set_ = {c: _sql(by_column.get(c, KEEP), c, table, insert.excluded) for c in changed}
    return insert.on_conflict_do_update(index_elements=key, set_=set_)
