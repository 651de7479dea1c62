"""Reporting's read model, lost, is rebuilt from the history (the workers' outboxes) to the same
rows: on RabbitMQ and PostgreSQL while the live reporting worker goes on with new orders, and
embedded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.embedded import Cluster
from orderflow.cluster.processes import ProcessCluster
from orderflow.demo.run import stock_the_shelves
from orderflow.operator.audit import audit
from orderflow.operator.operations import (
    await_listed,
    set_stock,
)
from orderflow.operator.rebuild import rebuild
from orderflow.scenarios.catalogue import CATALOGUE
from orderflow.scenarios.orders import extra
from services.reporting.model import Base, ReportedLine, ReportedOrder
from shared.clock import ManualClock
from shared.database import open_database
from shared.settings import Settings
from tests.support import memory_settings, wait_until

ORDERS = 30


def read_model(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, in key order."""
    with sessions() as session:
        return {
            table.name: [
                tuple(row)
                for row in session.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


def lose_most_of(sessions: sessionmaker[Session]) -> None:
    """What a broken read model looks like: rows gone, a step forgotten."""
    with sessions() as session, session.begin():
        gone = session.scalars(select(ReportedOrder.order_id).limit(ORDERS // 2)).all()
        session.execute(delete(ReportedLine).where(ReportedLine.order_id.in_(gone)))
        session.execute(delete(ReportedOrder).where(ReportedOrder.order_id.in_(gone)))
        session.execute(update(ReportedOrder).values(paid_at=None))


def completed_in_reporting(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        query = select(ReportedOrder.order_id).where(ReportedOrder.completed_at.is_not(None))
        return len(session.scalars(query).all())


def test_rebuilt_from_the_outboxes_while_reporting_runs(
    settings: Settings, processes: ProcessCluster
) -> None:
    processes.start()
    databases = WorkerDatabases(settings)
    reporting = databases.sessions["reporting"]
    for product in CATALOGUE:
        set_stock(settings, product.sku, 10_000, product.location, product.weight_grams)
    await_listed(settings, [product.sku for product in CATALOGUE])
    orders = [submit_envelope(order) for order in extra(ORDERS + ORDERS // 3, seed=11)]
    with ChannelPublisher(settings) as channel:
        channel.send(orders[:ORDERS])
        wait_until(
            lambda: completed_in_reporting(reporting) == ORDERS,
            timeout=180,
            what=f"{ORDERS} completed orders in reporting's read model",
        )
        kept = read_model(reporting)
        lose_most_of(reporting)
        channel.send(orders[ORDERS:])

        rebuilt = rebuild(settings)  # while the live worker hears the new orders

    assert (rebuilt.orders >= ORDERS, dict(rebuilt.skipped)) == (True, {})
    assert rebuilt.events >= ORDERS * 7  # placed, reserved, paid, packed, dispatched, ...
    wait_until(
        lambda: completed_in_reporting(reporting) == ORDERS + ORDERS // 3,
        timeout=120,
        what="the new orders completed in reporting's read model",
    )
    assert audit(databases).by_status["completed"] == ORDERS + ORDERS // 3
    settled = read_model(reporting)
    assert all(row in settled[table] for table, rows in kept.items() for row in rows)
    rebuild(settings)  # now with nothing going on
    assert read_model(reporting) == settled
    databases.dispose()


@pytest.fixture
def embedded(namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setenv("ORDERFLOW_NOTIFIER_MAILDIR", str(tmp_path / "mail"))
    clock = ManualClock()
    cluster = Cluster(memory_settings(namespace, tmp_path), clock)
    cluster.start()
    stock_the_shelves(cluster, clock)
    return cluster


def test_rebuilt_from_the_outboxes_when_embedded(embedded: Cluster) -> None:
    settings = embedded.settings
    with ChannelPublisher(settings) as channel:
        channel.send([submit_envelope(order) for order in extra(ORDERS, seed=12)])
    embedded.settle()
    reporting = open_database(settings.database_url_for("reporting"), Base.metadata)
    assert completed_in_reporting(reporting) == ORDERS
    kept = read_model(reporting)
    lose_most_of(reporting)

    rebuilt = rebuild(settings)

    assert (rebuilt.orders, dict(rebuilt.skipped)) == (ORDERS, {})
    assert read_model(reporting) == kept
    embedded.close()
