"""A worker as operators run it, in its own process on RabbitMQ and PostgreSQL: SIGTERM with
messages in flight, and a SIGKILL at each crash point (``shared.crash``) followed by a restart.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection
from kombu.simple import SimpleQueue
from sqlalchemy.orm import Session, sessionmaker

from orderflow.cluster.processes import ProcessCluster
from services.stock import bootstrap as stock
from services.stock.admin import set_level
from services.stock.store import StockUnitOfWork
from shared.clock import SystemClock
from shared.database import open_database
from shared.envelope import Envelope
from shared.messaging import BrokerLink, Outgoing
from shared.runtime_tables import RuntimeTables
from shared.settings import Settings
from shared.topology import Topology
from tests.integration.helpers import handled, placed, reserved
from tests.support import wait_until

pytestmark = pytest.mark.parametrize("settings", ["rabbitmq"], indirect=True)


class StockOutside:
    """Stock's own database, seen from outside the worker's process."""

    def __init__(self, settings: Settings) -> None:
        service = stock.bootstrap()
        self.tables = RuntimeTables(service.metadata)
        self.sessions: sessionmaker[Session] = open_database(
            settings.database_url_for("stock"), service.metadata
        )
        with self.sessions() as session, session.begin():
            set_level(StockUnitOfWork(session), "MUG-BLUE", 10_000, SystemClock().now(), "A-1", 1)


@pytest.fixture
def database(settings: Settings) -> Iterator[StockOutside]:
    db = StockOutside(settings)
    yield db
    db.sessions.kw["bind"].dispose()


def queue_depth(settings: Settings, topology: Topology) -> tuple[int, int]:
    """Messages ready in stock's queue, and its consumers."""
    with Connection(settings.broker_url) as connection:
        _, ready, consumers = connection.channel().queue_declare(
            topology.worker_queue_name("stock"), passive=True
        )
    return ready, consumers


def send_orders(sender: BrokerLink, topology: Topology, prefix: str, count: int) -> None:
    envelopes = [placed(f"{prefix}-{n}") for n in range(count)]
    sender.publish_confirmed(
        [
            Outgoing(body=e.encode(), exchange=topology.events, routing_key=e.type, message_id=e.id)
            for e in envelopes
        ]
    )


ORDERS = 60


def terminate_in_flight(
    settings: Settings,
    tmp_path: Path,
    database: StockOutside,
    sender: BrokerLink,
    topology: Topology,
    **env: str,
) -> tuple[int, int, float]:
    """Send orders to a worker taking one per transaction, SIGTERM it once all are delivered and
    some handled; (orders in flight then, its exit code, seconds it took to exit)."""
    one_at_a_time = {"ORDERFLOW_BATCH_SIZE": "1", "ORDERFLOW_PREFETCH": str(ORDERS), **env}
    cluster = ProcessCluster(settings, tmp_path, env=one_at_a_time)
    replica = cluster.spawn("stock")
    cluster.wait_ready(30)

    send_orders(sender, topology, "ord-term", ORDERS)
    wait_until(
        lambda: handled(database) > 0 and queue_depth(settings, topology)[0] == 0,
        20,
        what="every order delivered, some handled",
    )
    in_flight = ORDERS - handled(database)
    started = time.monotonic()
    replica.process.send_signal(signal.SIGTERM)
    code = replica.process.wait(30)
    return in_flight, code, time.monotonic() - started


def test_sigterm_with_messages_in_flight_exits_0_and_leaves_nothing_to_redeliver(
    settings: Settings,
    tmp_path: Path,
    database: StockOutside,
    sender: BrokerLink,
    topology: Topology,
) -> None:
    in_flight, code, took = terminate_in_flight(settings, tmp_path, database, sender, topology)

    assert code == 0
    assert in_flight > 0
    assert took < settings.shutdown_seconds
    assert handled(database) == ORDERS
    assert reserved(database) == 2 * ORDERS
    assert queue_depth(settings, topology) == (0, 0)  # nothing left for anyone to redeliver


def test_past_the_shutdown_bound_the_worker_exits_and_leaves_the_rest_to_the_broker(
    settings: Settings,
    tmp_path: Path,
    database: StockOutside,
    sender: BrokerLink,
    topology: Topology,
) -> None:
    no_time = {"ORDERFLOW_SHUTDOWN_SECONDS": "0"}
    in_flight, code, _ = terminate_in_flight(
        settings, tmp_path, database, sender, topology, **no_time
    )

    assert code == 0
    left = ORDERS - handled(database)
    assert 0 < left <= in_flight
    assert queue_depth(settings, topology) == (left, 0)  # handed back, for the next worker
    assert reserved(database) == 2 * handled(database)


POINTS = ["after_receive", "before_commit", "after_commit", "after_publish"]


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_point_kills_the_worker_and_after_a_restart_each_order_had_one_effect(
    point: str,
    settings: Settings,
    tmp_path: Path,
    database: StockOutside,
    sender: BrokerLink,
    topology: Topology,
    events: SimpleQueue,
) -> None:
    orders = 5
    cluster = ProcessCluster(settings, tmp_path)
    crashing = cluster.spawn("stock", env={"ORDERFLOW_CRASH_AT": point})
    cluster.wait_ready(30)

    send_orders(sender, topology, "ord-crash", orders)
    assert crashing.process.wait(20) == -signal.SIGKILL
    cluster.restart(crashing)
    cluster.wait_ready(30)
    wait_until(lambda: handled(database) == orders, 20, what="every order handled")
    announced: dict[str, set[str]] = {}

    def all_announced() -> bool:
        while True:
            try:
                message = events.get(timeout=0.05)
            except events.Empty:
                return len(announced) == orders
            message.ack()
            envelope = Envelope.model_validate_json(message.body)
            announced.setdefault(envelope.subject, set()).add(envelope.id)

    wait_until(all_announced, 20, what="every order announced")
    assert cluster.stop() == {"stock-0": 0}

    assert reserved(database) == 2 * orders
    assert queue_depth(settings, topology) == (0, 0)
    assert all(len(ids) == 1 for ids in announced.values()), announced  # republished, not redone
