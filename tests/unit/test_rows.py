"""A batch locks its rows with one query per table; handlers then read them for free."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from services.stock.bootstrap import bootstrap
from services.stock.model import Item, Reservation
from shared.rows import locked_rows
from shared.service import Service
from tests.unit.conftest import QueryCounter

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def stocked(session_for: Callable[[Service], Session]) -> Session:
    session = session_for(bootstrap())
    session.add_all([Item(sku=f"SKU-{n}", on_hand=n, reserved=0) for n in range(5)])
    session.commit()
    return session


def test_one_query_locks_many_rows_and_reads_are_free(
    session_for: Callable[[Service], Session], count_queries: Callable[[Session], QueryCounter]
) -> None:
    session = stocked(session_for)
    rows = locked_rows(session)
    counter = count_queries(session)

    rows.lock(Item.sku, ["SKU-3", "SKU-1", "NOPE"])
    found = [rows.get(Item, sku) for sku in ("SKU-1", "SKU-3", "NOPE")]

    assert [item.on_hand if item else None for item in found] == [1, 3, None]
    assert counter.selects == 1


def test_a_key_not_locked_is_read_on_its_own(
    session_for: Callable[[Service], Session], count_queries: Callable[[Session], QueryCounter]
) -> None:
    session = stocked(session_for)
    counter = count_queries(session)

    item = locked_rows(session).get(Item, "SKU-2")

    assert item is not None and item.on_hand == 2
    assert counter.selects == 1


def test_an_added_row_is_seen_by_later_reads_without_a_query(
    session_for: Callable[[Service], Session], count_queries: Callable[[Session], QueryCounter]
) -> None:
    session = stocked(session_for)
    rows = locked_rows(session)
    rows.lock(Reservation.order_id, ["ord-1"])
    counter = count_queries(session)

    rows.add(Reservation(order_id="ord-1", status="reserved", lines=[], updated_at=NOW))

    assert rows.get(Reservation, "ord-1") is not None
    assert counter.statements == []
