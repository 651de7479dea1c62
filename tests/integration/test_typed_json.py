"""A typed JSON column stores what a plain JSON column of ``model_dump(mode="json")`` stored,
on SQLite and on PostgreSQL: rows written before it read back as models, and new rows are the
same JSON an older version would read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import JSON, Engine, String, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shared.contracts import Customer, ReservedLine
from shared.database import TypedJson, drop_postgres_database, make_engine

CUSTOMER = Customer(name="Ada", email="ada@example.com", language="uk")
CUSTOMER_JSON = '{"name": "Ada", "email": "ada@example.com", "phone": null, "language": "uk"}'
LINES = [ReservedLine(sku="MUG-BLUE", quantity=2, location="A-01-02", unit_weight_grams=350)]


class Base(DeclarativeBase):
    pass


class Plain(Base):
    __tablename__ = "plain"

    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    customer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class Typed(Base):
    __tablename__ = "typed"

    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    customer: Mapped[Customer | None] = mapped_column(TypedJson(Customer))
    lines: Mapped[list[ReservedLine]] = mapped_column(TypedJson(list[ReservedLine]))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'typed.db'}"
    else:
        postgres: str = request.getfixturevalue("postgres_url")
        url = postgres.rsplit("/", 1)[0] + f"/{namespace}_typed"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(url)


def stored(engine: Engine, table: str) -> list[tuple[str, str | None, str]]:
    as_text = "::text" if engine.dialect.name == "postgresql" else ""
    query = f"SELECT id, customer{as_text}, lines{as_text} FROM {table} ORDER BY id"
    with engine.connect() as connection:
        return [(row[0], row[1], row[2]) for row in connection.execute(text(query))]


def test_a_typed_column_stores_the_json_a_plain_one_did(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add_all(
            [
                Plain(
                    id="set",
                    customer=CUSTOMER.model_dump(mode="json"),
                    lines=[line.model_dump(mode="json") for line in LINES],
                ),
                Plain(id="none", customer=None, lines=[]),
                Plain(id="unset", lines=[]),
                Typed(id="set", customer=CUSTOMER, lines=LINES),
                Typed(id="none", customer=None, lines=[]),
                Typed(id="unset", lines=[]),
            ]
        )

    assert stored(engine, "typed") == stored(engine, "plain")
    assert [row[1] for row in stored(engine, "typed")] == ["null", CUSTOMER_JSON, None]


def test_rows_a_plain_column_wrote_read_back_as_models(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(Plain.__table__),
            [
                {
                    "id": "old",
                    "customer": CUSTOMER.model_dump(mode="json"),
                    "lines": [line.model_dump() for line in LINES],
                }
            ],
        )
        connection.execute(text("INSERT INTO typed SELECT * FROM plain"))

    with Session(engine) as session:
        row = session.scalars(select(Typed)).one()

    assert (row.customer, row.lines) == (CUSTOMER, LINES)


def test_a_stored_value_that_is_not_of_its_kind_does_not_read(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(Plain.__table__), [{"id": "bad", "customer": {"name": "Ada"}, "lines": []}]
        )
        connection.execute(text("INSERT INTO typed SELECT * FROM plain"))

    with Session(engine) as session, pytest.raises(ValidationError, match="email"):
        session.scalars(select(Typed)).one()
