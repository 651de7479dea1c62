"""Outages, met by one worker: the database unreachable (no ack meanwhile, everything handled once
it is back), connections the database dropped, the broker link cut in the middle of a batch, and
what /healthz and /readyz say meanwhile. The broker cases need RabbitMQ: memory:// cannot fail.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from kombu.simple import SimpleQueue
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from services.stock import bootstrap as stock
from shared.contracts import OrderPlaced
from shared.envelope import Envelope
from shared.health import HealthServer
from shared.messaging import BrokerLink
from shared.service import Result
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.integration.helpers import StartWorker, metric, placed, received, reserved, send
from tests.support import wait_until

real_only = pytest.mark.parametrize("settings", ["rabbitmq"], indirect=True)


@pytest.fixture
def dead_database(settings: Settings) -> sessionmaker[Session]:
    """Sessions on a database that cannot be reached."""
    if settings.on_real_broker:
        return sessionmaker(create_engine("postgresql+psycopg://postgres@127.0.0.1:1/gone"))
    return sessionmaker(create_engine("sqlite:////nonexistent/orderflow/gone.db"))


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    server = HealthServer(0, host="127.0.0.1")
    yield server
    server.close()


def get(server: HealthServer, path: str) -> tuple[int, Any]:
    try:
        with urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as page:
            status, body = page.status, page.read()
    except HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body) if path != "/metrics" else body.decode()


def cut(worker: Worker) -> None:
    """The worker's TCP connection to the broker ends, as a dying network would end it."""
    worker.link.connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)


def subjects(got: list[tuple[Any, dict[str, Any]]]) -> list[str]:
    return sorted(Envelope.model_validate_json(body).subject for body, _ in got)


def said(caplog: pytest.LogCaptureFixture, about: str) -> list[str]:
    """The worker's log events about ``about`` (the broker, the database), each with the worker
    it names."""
    return [
        f"{r.getMessage()} ({getattr(r, 'worker', None)})"
        for r in caplog.records
        if r.name == "orderflow.worker" and r.getMessage().startswith(about)
    ]


def test_while_the_database_is_down_nothing_is_acked_and_all_is_handled_once_it_is_back(
    worker: Worker,
    dead_database: sessionmaker[Session],
    events: SimpleQueue,
    sender: BrokerLink,
    topology: Topology,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="orderflow.worker")
    own, worker.sessions = worker.sessions, dead_database
    for n in range(3):
        send(sender, topology, placed(f"ord-down-{n}").encode())

    wait_until(lambda: len(worker.link.buffer) == 3, 10, step=lambda: worker.poll(0.05))
    worker.poll(0.05)

    assert len(worker.link.buffer) == 3  # in hand, unacked, tried again after each pause
    assert "database" in (worker.health.readiness() or "")
    assert events.qsize() == 0
    worker.sessions = own
    got = received(events, worker, 3)
    assert subjects(got) == ["ord-down-0", "ord-down-1", "ord-down-2"]
    assert reserved(worker) == 6
    assert worker.health.readiness() is None
    outage = said(caplog, "database")
    assert set(outage[:-1]) == {"database unavailable (stock)"}
    assert outage[-1] == "database back (stock)"


@real_only
def test_connections_the_database_dropped_do_not_wedge_the_worker(
    settings: Settings, worker: Worker, events: SimpleQueue, sender: BrokerLink, topology: Topology
) -> None:
    send(sender, topology, placed("ord-before").encode())
    received(events, worker, 1)

    database = make_url(settings.database_url_for("stock"))
    admin = create_engine(database.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        dropped = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database.database},
        ).scalar()
    admin.dispose()
    assert dropped

    for order_id in ("ord-after-1", "ord-after-2"):
        send(sender, topology, placed(order_id).encode())
    assert subjects(received(events, worker, 2)) == ["ord-after-1", "ord-after-2"]
    assert reserved(worker) == 6


class CutsTheLink:
    """Stock's handler, but the network to the broker dies while it handles its first message."""

    def __init__(self) -> None:
        self.worker: Worker | None = None
        self.real = stock.bootstrap().handlers[OrderPlaced]

    def __call__(self, message: OrderPlaced, uow: object) -> Result:
        if self.worker is not None:
            cut(self.worker)
            self.worker = None
        return self.real(message, uow)


@real_only
def test_a_broker_link_cut_mid_batch_is_opened_again_and_nothing_is_lost_or_doubled(
    start_worker: StartWorker,
    events: SimpleQueue,
    sender: BrokerLink,
    topology: Topology,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The batch commits, its publish and ack fail: the deliveries are dropped and handed out
    again (duplicates now), and the announcements left in the outbox go out with the sweep."""
    caplog.set_level(logging.INFO, logger="orderflow.worker")
    real = stock.bootstrap()
    cutter = CutsTheLink()
    service = dataclasses.replace(real, handlers={**real.handlers, OrderPlaced: cutter})
    worker = start_worker(service)
    cutter.worker = worker
    reconnects = metric("orderflow_reconnects_total", worker="stock")
    orders = [f"ord-cut-{n}" for n in range(5)]

    for order_id in orders:
        send(sender, topology, placed(order_id).encode())
    got = received(events, worker, 5)

    assert subjects(got) == orders
    assert metric("orderflow_reconnects_total", worker="stock") == reconnects + 1
    assert reserved(worker) == 10
    worker.poll(0.2)
    assert events.qsize() == 0
    assert worker.health.readiness() is None
    lost, *unavailable, back = said(caplog, "broker")
    assert lost == "broker link lost; what was not acked is handed out again (stock)"
    assert set(unavailable) <= {"broker unavailable (stock)"}
    assert back == "broker back (stock)"


@real_only
def test_a_broker_link_lost_while_the_gauges_are_read_is_opened_again_at_once(
    start_worker: StartWorker, events: SimpleQueue, sender: BrokerLink, topology: Topology
) -> None:
    """The parking lot's depth is read on a channel of its own, now and then: a connection lost
    right then reaches the loop like any other, instead of leaving the worker on a dead
    connection until heartbeats give out."""
    worker = start_worker(gauge_refresh_seconds=0.001)
    reconnects = metric("orderflow_reconnects_total", worker="stock")
    read_depth = worker.gauges.parking_depth

    def cut_then_read() -> int:
        cut(worker)
        return read_depth()

    worker.gauges.parking_depth = cut_then_read  # type: ignore[method-assign]
    worker.poll(0.1)
    worker.gauges.parking_depth = read_depth  # type: ignore[method-assign]
    send(sender, topology, placed("ord-gauge-cut").encode())

    assert subjects(received(events, worker, 1, timeout=10)) == ["ord-gauge-cut"]
    assert metric("orderflow_reconnects_total", worker="stock") == reconnects + 1


def test_healthz_and_readyz_answer_and_readiness_follows_the_database(
    worker: Worker, dead_database: sessionmaker[Session], health_server: HealthServer
) -> None:
    assert get(health_server, "/healthz") == (200, {"status": "ok"})
    assert get(health_server, "/readyz") == (200, {"status": "ok"})
    status, page = get(health_server, "/metrics")
    assert status == 200 and "orderflow_messages_total" in page

    own, worker.sessions = worker.sessions, dead_database
    worker.poll(0)

    status, answer = get(health_server, "/readyz")
    assert status == 503 and answer["reason"].startswith("stock: database: OperationalError")
    assert get(health_server, "/healthz")[0] == 200  # unready, not dead: it waits it out
    worker.sessions = own
    worker.poll(0)
    assert get(health_server, "/readyz") == (200, {"status": "ok"})


@real_only
def test_readiness_is_503_while_the_broker_link_is_down(
    settings: Settings, worker: Worker, health_server: HealthServer
) -> None:
    worker.link.url = "amqp://guest:guest@127.0.0.1:1//"  # the broker is gone for now
    cut(worker)
    polling = threading.Thread(target=worker.poll, args=(0.05,))
    polling.start()

    wait_until(lambda: get(health_server, "/readyz")[0] == 503, 10, what="unready")
    assert get(health_server, "/readyz")[1]["reason"].startswith("stock: broker: ")
    assert get(health_server, "/healthz")[0] == 200
    worker.link.url = settings.broker_url  # it is back
    polling.join(10)

    assert not polling.is_alive()
    assert get(health_server, "/readyz") == (200, {"status": "ok"})
