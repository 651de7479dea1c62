"""Runtime tests run the same cases on kombu's memory:// transport with SQLite and on the real
RabbitMQ with PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection, Queue
from kombu.simple import SimpleQueue

from services.stock import bootstrap as stock
from services.stock.admin import set_level
from services.stock.store import StockUnitOfWork
from shared.clock import SystemClock
from shared.messaging import BrokerLink
from shared.service import Service
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.integration.helpers import StartWorker
from tests.support import memory_settings, real_settings, tear_down


@pytest.fixture(params=["memory", "rabbitmq"])
def settings(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "memory":
        yield memory_settings(namespace, tmp_path, batch_size=50)
        return
    rabbitmq_url = request.getfixturevalue("rabbitmq_url")
    postgres_url = request.getfixturevalue("postgres_url")
    chosen = real_settings(namespace, rabbitmq_url, postgres_url, batch_size=50)
    yield chosen
    tear_down(chosen, ["stock", "reporting", "probe", "batches"])


@pytest.fixture
def start_worker(settings: Settings) -> Iterator[StartWorker]:
    """Start a stock worker (10 MUG-BLUE on hand), on ``settings`` with ``overrides``, or with
    another ``service``; every one started is closed at the end."""
    started: list[Worker] = []

    def start(service: Service | None = None, **overrides: object) -> Worker:
        worker = Worker(service or stock.bootstrap(), settings.model_copy(update=overrides))
        worker.start()
        started.append(worker)
        assert worker.sessions is not None
        with worker.sessions() as session, session.begin():
            uow = StockUnitOfWork(session)
            set_level(uow, "MUG-BLUE", 10, SystemClock().now(), "A-01-02", 350)
        return worker

    yield start
    for worker in started:
        worker.close()


@pytest.fixture
def worker(start_worker: StartWorker) -> Worker:
    return start_worker()


@pytest.fixture
def topology(settings: Settings) -> Topology:
    return Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)


@pytest.fixture
def events(settings: Settings, topology: Topology) -> Iterator[SimpleQueue]:
    """Everything published on the events exchange, as a channel or an auditor would see it."""
    queue = Queue(f"{settings.namespace}.probe", exchange=topology.events, routing_key="stock.#")
    with Connection(settings.broker_url) as connection:
        probe = connection.SimpleQueue(queue)
        yield probe
        probe.close()


@pytest.fixture
def parking(settings: Settings, topology: Topology) -> Iterator[SimpleQueue]:
    with Connection(settings.broker_url) as connection:
        lot = connection.SimpleQueue(topology.parking_queue("stock"))
        yield lot
        lot.close()


@pytest.fixture
def sender(settings: Settings) -> Iterator[BrokerLink]:
    link = BrokerLink(settings.broker_url)
    link.connect()
    yield link
    link.close()
