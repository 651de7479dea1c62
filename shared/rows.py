"""Rows a batch's transaction has locked, so handlers read them without a query each.

Before the handlers of a batch run, a worker's unit of work locks every row the batch will
touch with one ``SELECT … WHERE key IN (…) FOR UPDATE`` per table (``lock``). A store's ``get``
then answers from here, and ``add`` records new rows, so the next message of the same order in
the same batch sees them. A key that was never locked falls back to a locking read of its own.

Keys absent at lock time are remembered as absent: a row another replica inserts meanwhile
meets ours at the primary key on commit, which the runtime treats as transient and retries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, event, inspect, select
from sqlalchemy.orm import ColumnProperty, DeclarativeBase, InstrumentedAttribute, Session

from shared.database import KeyedStatement

Row = TypeVar("Row", bound=DeclarativeBase)

_KEY = "orderflow.locked_rows"


class LockedRows:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[tuple[type[Any], str], dict[Any, Any]] = {}

    def lock(self, column: InstrumentedAttribute[Any], keys: Iterable[Any]) -> None:
        """Load and lock the rows whose ``column`` is one of ``keys``, in key order."""
        model: type[Any] = column.parent.class_
        known = self._rows.setdefault((model, column.key), {})
        wanted = sorted({key for key in keys if key is not None} - known.keys())
        if not wanted:
            return
        if isinstance(column.property, ColumnProperty):
            rows = self.session.scalars(
                _locking(model, column.key).on(self.session), {"keys": wanted}
            )
        else:  # a composite key: its own IN of tuples
            query = select(model).where(column.in_(wanted)).order_by(column).with_for_update()
            rows = self.session.scalars(query)
        for row in rows:
            known[getattr(row, column.key)] = row
        for key in wanted:
            known.setdefault(key, None)

    def get(
        self, model: type[Row], key: Any, by: InstrumentedAttribute[Any] | None = None
    ) -> Row | None:
        """The row of ``model`` whose ``by`` (default: its primary key) is ``key``."""
        column = by if by is not None else _primary_key(model)
        known = self._rows.get((model, column.key), {})
        if key not in known:
            self.lock(column, [key])
            known = self._rows[(model, column.key)]
        row: Row | None = known[key]
        return row

    def forget(self, _session: Session | None = None) -> None:
        """Locks end with the transaction, and what it knew about rows ends with them."""
        self._rows.clear()

    def add(self, row: DeclarativeBase) -> None:
        """A new row: it joins the session and answers later ``get`` calls by every key locked."""
        self.session.add(row)
        model = type(row)
        for (cached_model, attribute), known in self._rows.items():
            if cached_model is model:
                known[getattr(row, attribute)] = row
        self._remember_primary_key(row)

    def _remember_primary_key(self, row: DeclarativeBase) -> None:
        attribute = _primary_key(type(row)).key
        self._rows.setdefault((type(row), attribute), {})[getattr(row, attribute)] = row


def _locking(model: type[Any], attribute: str) -> KeyedStatement[Select[Any]]:
    """Loads and locks the rows of ``model`` whose ``attribute`` is one of ``:keys``."""
    statement = _LOCKING.get((model, attribute))
    if statement is None:
        column = getattr(model, attribute)
        statement = _LOCKING[(model, attribute)] = KeyedStatement(
            column, lambda keys: select(model).where(keys).order_by(column).with_for_update()
        )
    return statement


_LOCKING: dict[tuple[type[Any], str], KeyedStatement[Select[Any]]] = {}


def _primary_key(model: type[DeclarativeBase]) -> InstrumentedAttribute[Any]:
    mapper = inspect(model)
    if len(mapper.primary_key) != 1:
        raise TypeError(f"{model.__name__} has a composite key: pass by=")
    attribute: InstrumentedAttribute[Any] = getattr(
        model, mapper.get_property_by_column(mapper.primary_key[0]).key
    )
    return attribute


class KeyedRows(Generic[Row]):
    """One table's rows by primary key, for a store that only gets and adds them."""

    def __init__(self, session: Session, model: type[Row]) -> None:
        self.model = model
        self.rows = locked_rows(session)

    def get(self, key: Any) -> Row | None:
        return self.rows.get(self.model, key)

    def add(self, row: Row) -> None:
        self.rows.add(row)


def locked_rows(session: Session) -> LockedRows:
    """The transaction's ``LockedRows``; one per session, shared by all of a worker's stores."""
    rows = session.info.get(_KEY)
    if rows is None:
        rows = session.info[_KEY] = LockedRows(session)
        event.listen(session, "after_commit", rows.forget)
        event.listen(session, "after_rollback", rows.forget)
    assert isinstance(rows, LockedRows)
    return rows
