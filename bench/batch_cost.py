"""What a batch costs a worker, split into a fixed part and a part per message, on the real
RabbitMQ and PostgreSQL; and what this box charges for the waits every round trip is made of.

    .venv/bin/python -m bench.batch_cost                 # stock, order.placed batches
    .venv/bin/python -m bench.batch_cost --sizes 1 2 5 10 50 100 --rounds 300

The stock worker runs in this process (``shared.worker.Worker``, as ``orderflow worker stock``
does). For each batch size K, K ``order.placed`` wait in its queue, then it polls until it has
handled them; its CPU (``time.process_time``) over those polls, per message, is reported. The
least-squares line through CPU per batch against K gives the batch's fixed cost (what a batch
of one pays: the transaction's round trips and the statements around the handlers) and the cost
of each message more. Each part of a batch is timed too (``--parts``), by wrapping the runtime's
calls for batches of one.

The floor: client CPU of a PostgreSQL round trip (``SELECT 1`` in autocommit; a transaction of
one ``INSERT``), of a ``time.sleep`` that blocks (a process that waits for a reply blocks and is
woken), and of a ping-pong over a socket pair between two threads. Paced, a worker's batches hold
one to five messages, so what it costs per order is mostly the fixed part (issue 11).
"""

from __future__ import annotations

import argparse
import collections
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from kombu import Connection
from sqlalchemy import make_url

from services.stock import bootstrap as stock
from services.stock.admin import set_level
from services.stock.store import StockUnitOfWork
from shared.clock import SystemClock
from shared.deliveries import Deliveries
from shared.due_timers import DueTimers
from shared.envelope import CONTENT_TYPE, wrap
from shared.inbox import Inbox
from shared.messaging import BrokerLink
from shared.outbox import Outbox
from shared.relay import Relay
from shared.topology import Topology
from shared.transaction import BatchTransaction
from shared.worker import Worker
from tests.factories import order_placed
from tests.support import configured_broker_url, configured_postgres_url, real_settings, tear_down

PARTS: list[tuple[type[Any], str, str]] = [
    (Worker, "poll", "a pass of the loop, in all"),
    (BrokerLink, "fill", "waiting for and receiving deliveries"),
    (Deliveries, "handle", "a batch: decode, transaction, ack"),
    (BatchTransaction, "run", "its transaction"),
    (Inbox, "claim", "BEGIN and the inbox claim"),
    (StockUnitOfWork, "preload", "the locking reads of the batch's rows (ORM)"),
    (BatchTransaction, "_call", "the handlers"),
    (Outbox, "add", "the ORM flush, then the outbox insert"),
    (Relay, "publish", "publishing the announcements"),
    (DueTimers, "fire", "checking for due timers"),
    (BrokerLink, "ack", "the ack"),
]


def started_worker(broker: str, postgres: str) -> Worker:
    settings = real_settings(f"batchcost{uuid.uuid4().hex[:8]}", broker, postgres)
    worker = Worker(stock.bootstrap(), settings)
    worker.start()
    assert worker.sessions is not None
    with worker.sessions() as session, session.begin():
        set_level(StockUnitOfWork(session), "MUG-BLUE", 10**9, SystemClock().now(), "A-01", 350)
    return worker


class Feed:
    """Publishes ``order.placed`` for the worker, as intake would."""

    def __init__(self, worker: Worker) -> None:
        self.connection = Connection(worker.settings.broker_url)
        self.producer = self.connection.Producer()
        self.exchange = Topology.of(worker.settings).events

    def send(self, count: int) -> None:
        for _ in range(count):
            envelope = wrap(order_placed(f"ord-{uuid.uuid4().hex[:12]}"), source="intake")
            self.producer.publish(
                envelope.body,
                exchange=self.exchange,
                routing_key=envelope.type,
                content_type=CONTENT_TYPE,
                message_id=envelope.id,
                delivery_mode=2,
            )

    def close(self) -> None:
        self.connection.release()


def cpu_per_batch(worker: Worker, feed: Feed, size: int, rounds: int) -> float:
    """CPU seconds the worker spends handling a batch of ``size``, on average."""
    spent = 0.0
    for _ in range(rounds):
        feed.send(size)
        time.sleep(0.03)  # all of them in its queue before it looks
        started, handled = time.process_time(), 0
        deadline = time.monotonic() + 30
        while handled < size:
            handled += worker.poll(0.01)
            if time.monotonic() > deadline:
                raise TimeoutError(f"handled {handled} of {size} within 30 s")
        spent += time.process_time() - started
    return spent / rounds


def fixed_and_marginal(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares of CPU per batch against its size: (intercept, slope)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    return mean_y - slope * mean_x, slope


@contextmanager
def timed_parts() -> Iterator[dict[str, float]]:
    """CPU seconds spent in each of ``PARTS`` while the block runs."""
    spent: dict[str, float] = collections.defaultdict(float)
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in PARTS]
    for owner, name, what in PARTS:
        setattr(owner, name, _timing(getattr(owner, name), what, spent))
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _timing(function: Callable[..., Any], what: str, spent: dict[str, float]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[what] += time.process_time() - started

    return timed


def cpu_of(call: Callable[[], object], times: int) -> float:
    """Microseconds of this process's CPU per call."""
    for _ in range(times // 10):
        call()
    started = time.process_time()
    for _ in range(times):
        call()
    return (time.process_time() - started) * 1e6 / times


def floor(postgres: str) -> dict[str, float]:
    """What this box charges a client for a round trip and a blocking wait, in µs of CPU."""
    url = make_url(postgres).set(drivername="postgresql").render_as_string(hide_password=False)
    figures: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as connection:
        figures["SELECT 1, autocommit"] = cpu_of(lambda: connection.execute("SELECT 1"), 2000)
        connection.execute("CREATE TEMP TABLE probe (id text)")
        with psycopg.connect(url) as other:
            other.execute("CREATE TEMP TABLE probe (id text)")
            other.commit()

            def insert() -> None:
                with other.transaction():
                    other.execute("INSERT INTO probe VALUES (%s)", ("x",))

            figures["BEGIN, INSERT, COMMIT"] = cpu_of(insert, 1000)
    figures["time.sleep(0.001)"] = cpu_of(lambda: time.sleep(0.001), 300)
    figures["socket ping-pong between two threads"] = _ping_pong()
    return figures


def _ping_pong() -> float:
    near, far = socket.socketpair()

    def echo() -> None:
        while data := far.recv(64):
            far.send(data)

    threading.Thread(target=echo, daemon=True).start()

    def ping() -> None:
        near.send(b"x")
        near.recv(64)

    try:
        return cpu_of(ping, 2000)
    finally:
        near.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 5, 20, 100])
    parser.add_argument("--rounds", type=int, default=200, help="messages per size, about")
    parser.add_argument("--parts", action="store_true", help="time each part of a batch of one")
    parser.add_argument("--broker", default=configured_broker_url())
    parser.add_argument("--postgres", default=configured_postgres_url())
    args = parser.parse_args()
    worker = started_worker(args.broker, args.postgres)
    feed = Feed(worker)
    try:
        cpu_per_batch(worker, feed, 5, 10)  # warm: statements prepared, caches filled
        points = []
        for size in args.sizes:
            batch = cpu_per_batch(worker, feed, size, max(5, args.rounds // size))
            points.append((size, batch))
            each = batch * 1000 / size
            print(f"batch of {size:>3}: {batch * 1000:6.2f} CPU ms, {each:5.2f} a message")
        if len(points) > 1:
            fixed, marginal = fixed_and_marginal(points)
            print(f"fixed per batch {fixed * 1000:.2f} CPU ms, a message {marginal * 1000:.3f}")
        if args.parts:
            rounds = max(50, args.rounds)
            with timed_parts() as spent:
                cpu_per_batch(worker, feed, 1, rounds)
            print("a batch of one, by part (nested: a part includes those below it):")
            for _, _, what in PARTS:
                print(f"  {spent[what] * 1e6 / rounds:7.0f} µs  {what}")
    finally:
        feed.close()
        worker.close()
        tear_down(worker.settings, ["stock"])
    print("the box's floor, µs of client CPU:")
    for what, micros in floor(args.postgres).items():
        print(f"  {micros:7.0f}  {what}")


if __name__ == "__main__":
    main()
