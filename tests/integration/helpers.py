"""What the runtime tests do over and over: send an order, wait for what a worker announces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kombu.message import Message as Delivery
from kombu.simple import SimpleQueue
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.stock.store import StockUnitOfWork
from shared.envelope import Envelope, wrap
from shared.messaging import BrokerLink, Outgoing
from shared.runtime_tables import RuntimeTables
from shared.topology import Topology
from shared.worker import Worker
from tests.factories import order_placed
from tests.support import wait_until

StartWorker = Callable[..., Worker]
"""The ``start_worker`` fixture: a stock worker, on the test's settings with overrides."""


def send(
    sender: BrokerLink, topology: Topology, body: bytes, routing_key: str = "order.placed"
) -> None:
    sender.publish_confirmed(
        [Outgoing(body=body, exchange=topology.events, routing_key=routing_key, message_id="m")]
    )


def received(
    queue: SimpleQueue, worker: Worker, count: int, timeout: float = 20
) -> list[tuple[Any, dict[str, Any]]]:
    """Poll the worker until ``count`` messages arrived on ``queue``; (body, headers) each."""
    return [(m.body, m.headers or {}) for m in taken(queue, worker, count, timeout)]


def taken(queue: SimpleQueue, worker: Worker, count: int, timeout: float = 20) -> list[Delivery]:
    """Poll the worker until ``count`` messages arrived on ``queue``; each as delivered."""
    got: list[Delivery] = []

    def arrived() -> bool:
        try:
            message = queue.get(timeout=0.01)
        except queue.Empty:
            return len(got) >= count
        message.ack()
        got.append(message)
        return len(got) >= count

    wait_until(arrived, timeout, step=lambda: worker.poll(0.05), what=f"{count} messages")
    return got


def placed(order_id: str) -> Envelope:
    return wrap(order_placed(order_id), source="intake")


class StockDatabase(Protocol):
    """Stock's database as a worker (or a test outside the worker's process) holds it."""

    @property
    def sessions(self) -> sessionmaker[Session] | None: ...

    @property
    def tables(self) -> RuntimeTables: ...


def reserved(stock: StockDatabase, sku: str = "MUG-BLUE") -> int:
    assert stock.sessions is not None
    with stock.sessions() as session:
        item = StockUnitOfWork(session).items.get(sku)
        assert item is not None
        return item.reserved


def handled(stock: StockDatabase) -> int:
    """Messages the inbox recorded as handled."""
    assert stock.sessions is not None
    with stock.sessions() as session:
        query = select(func.count()).select_from(stock.tables.inbox.table)
        return int(session.scalar(query) or 0)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
