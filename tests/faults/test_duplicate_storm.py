"""Duplicate storm: every event and command reaches its queues three times, under the same
message id (a relay hears each one and publishes it twice more, as a broker redelivering after
lost acks would hand it over again). The business outcome must be exactly that of a clean run of
the same orders: the same final state per order, the same money moved, the same stock, one
e-mail per event, counted where it arrives (the mail server, by Message-ID): none twice.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kombu import Connection, Queue, binding
from sqlalchemy import func, select

from orderflow.cluster.registry import NAMES
from services.intake.model import Order
from services.notifier.model import Notification
from services.payment.store import PaymentUnitOfWork
from services.stock.model import Item
from shared.settings import Settings
from shared.topology import Topology
from tests.faults.harness import Run, running
from tests.support import real_settings, tear_down

ORDERS = 120


def test_every_event_three_times_changes_nothing(
    settings: Settings, tmp_path: Path, rabbitmq_url: str, postgres_url: str
) -> None:
    duplicates: Counter[str] = Counter()
    with running(settings, tmp_path / "clean") as run:
        clean = outcome_of(run)

    stormy = real_settings(settings.namespace + "storm", rabbitmq_url, postgres_url)
    try:
        with (
            running(stormy, tmp_path / "storm", metrics_port_base=19300) as run,
            storm(stormy, copies=3),
        ):
            storm_outcome = outcome_of(
                run,
                before_stopping=lambda: duplicates.update(
                    run.cluster.scrape("orderflow_messages_total", outcome="duplicate")
                ),
            )
    finally:
        tear_down(stormy, NAMES)

    assert storm_outcome == clean
    assert set(duplicates) >= {"intake", "stock", "payment", "warehouse", "shipping"}, duplicates
    assert sum(duplicates.values()) > ORDERS * 5, duplicates  # the storm really blew


def outcome_of(run: Run, before_stopping: Callable[[], object] | None = None) -> dict[str, Any]:
    run.rng = random.Random(99)  # the same orders in both runs
    run.submit(ORDERS)
    run.wait_all_terminal(120)
    if before_stopping is not None:
        before_stopping()
    run.verdict(repeats_allowed=0)
    with run.dbs.session("intake") as session:
        orders = {o.id: o for o in session.scalars(select(Order))}
    by_external = {o.external_id: o.id for o in orders.values()}
    with run.dbs.session("payment") as session:
        money = PaymentUnitOfWork(session).payments.money_moved_by_order()
    with run.dbs.session("stock") as session:
        stock = {i.sku: (i.on_hand, i.reserved) for i in session.scalars(select(Item))}
    with run.dbs.session("notifier") as session:
        query = select(Notification.order_id, Notification.about, func.count()).group_by(
            Notification.order_id, Notification.about
        )
        mails = Counter({(o, about): int(n) for o, about, n in session.execute(query)})
    return {
        "orders": {e: (orders[i].status, orders[i].cancel_reason) for e, i in by_external.items()},
        "money": {
            e: (money[i].captured, money[i].refunded) for e, i in by_external.items() if i in money
        },
        "stock": stock,
        "emails_received": len(run.mail.received),
        "mails": sorted(
            (e, about, n)
            for e, i in by_external.items()
            for (o, about), n in mails.items()
            if o == i
        ),
    }


@contextmanager
def storm(settings: Settings, copies: int) -> Iterator[None]:
    """A relay that hears every event and command and publishes it ``copies - 1`` times more,
    byte for byte under the same message id, so each worker queue gets it ``copies`` times.
    (RabbitMQ delivers one copy per queue however many bindings match, so it takes a relay.)"""
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    relay = Queue(
        f"{settings.namespace}.storm",
        bindings=[binding(topology.events, "#"), binding(topology.commands, "#")],
        auto_delete=True,
    )
    stop = threading.Event()

    def echo(_: object, message: Any) -> None:
        properties = message.properties
        if not (message.headers or {}).get("x-storm"):
            info = message.delivery_info
            for _ in range(copies - 1):
                producer.publish(
                    message.body,
                    exchange=info["exchange"],
                    routing_key=info["routing_key"],
                    headers={"x-storm": 1},
                    message_id=properties.get("message_id"),
                    correlation_id=properties.get("correlation_id"),
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    delivery_mode=2,
                )
        message.ack()

    with Connection(settings.broker_url) as connection, Connection(settings.broker_url) as out:
        producer = out.Producer()
        with connection.Consumer(relay, callbacks=[echo], accept=None, no_ack=False):
            thread = threading.Thread(target=_pump, args=(connection, stop), daemon=True)
            thread.start()
            try:
                yield
            finally:
                stop.set()
                thread.join(10)


def _pump(connection: Connection, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            connection.drain_events(timeout=0.2)
        except TimeoutError:
            continue
