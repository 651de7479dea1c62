"""200 orders from the channels through seven worker processes, audited from their own tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.operator.audit import audit
from orderflow.operator.operations import await_listed, set_stock
from orderflow.scenarios.catalogue import CATALOGUE
from orderflow.scenarios.orders import extra
from shared.settings import Settings
from tests.support import wait_until

ORDERS = 200


@pytest.fixture
def databases(settings: Settings, processes: ProcessCluster) -> Iterator[WorkerDatabases]:
    processes.start()
    dbs = WorkerDatabases(settings)
    yield dbs
    dbs.dispose()


def test_every_order_from_every_channel_completes_and_the_invariants_hold(
    settings: Settings, processes: ProcessCluster, databases: WorkerDatabases
) -> None:
    for product in CATALOGUE:
        set_stock(settings, product.sku, 10_000, product.location, product.weight_grams)
    await_listed(settings, [product.sku for product in CATALOGUE])
    orders = extra(ORDERS, seed=42)

    with ChannelPublisher(settings) as channel:
        channel.send([submit_envelope(order) for order in orders])

    wait_until(
        lambda: audit(databases).by_status["completed"] == ORDERS,
        timeout=180,
        what=f"{ORDERS} completed orders",
    )
    assert set(processes.stop().values()) == {0}, "a worker did not stop cleanly on SIGTERM"
    report = audit(databases)
    assert report.orders == ORDERS
    assert report.violations == []
