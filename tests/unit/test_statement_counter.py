"""A worker counts the SQL statements it sends, for the bench's statements per order."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from shared.health import Health
from shared.worker_database import WorkerDatabase

METADATA = MetaData()
ROWS = Table("rows", METADATA, Column("id", Integer, primary_key=True))


def statements(worker: str) -> float:
    sample = "orderflow_database_statements_total"
    return REGISTRY.get_sample_value(sample, {"worker": worker}) or 0.0


def test_each_statement_counts_once_and_an_executemany_counts_once(tmp_path: Path) -> None:
    database = WorkerDatabase(Health("counted", 10.0))
    database.open(f"sqlite:///{tmp_path}/counted.db", METADATA)
    before = statements("counted")
    with database.opened() as session:
        session.execute(insert(ROWS), [{"id": n} for n in range(5)])
        assert len(session.execute(select(ROWS)).all()) == 5
        session.commit()
    assert statements("counted") - before == 2
