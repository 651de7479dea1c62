"""Saga-health metrics of one worker in this process, on kombu's memory:// transport and SQLite
(the embedded mode): its counters at 0 from the start, a rolled-back batch counts no
compensation, the parking lot's depth read from the in-memory broker, the outbox's and the timers'
gauges from a sweep, health as gauges."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from kombu import Connection
from prometheus_client import REGISTRY
from sqlalchemy import MetaData

from shared.clock import SystemClock
from shared.contracts import Message, PaymentFailed, PaymentMethod, StockReleased
from shared.envelope import Envelope, wrap
from shared.errors import PermanentError
from shared.messaging import BrokerLink, Outgoing
from shared.service import Service, UnitOfWork
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.support import wait_until

pytestmark = pytest.mark.parametrize("settings", ["memory"], indirect=True)

PROBE = "probe"


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def on_payment_failed(event: PaymentFailed, uow: UnitOfWork) -> list[Message]:
    """Releases, as stock would; an order named ``ord-bad`` is a bug (a permanent error)."""
    if event.order_id == "ord-bad":
        raise PermanentError("this one never succeeds")
    return [StockReleased(order_id=event.order_id, reason="payment_failed")]


@pytest.fixture
def probe(settings: Settings) -> Iterator[Worker]:
    service = Service(
        name=PROBE,
        metadata=MetaData(),
        unit_of_work=UnitOfWork,
        handlers={PaymentFailed: on_payment_failed},
        publishes=frozenset({StockReleased}),
    )
    worker = Worker(service, settings)
    worker.start()
    yield worker
    worker.close()


def failed(order_id: str) -> Envelope:
    event = PaymentFailed(
        order_id=order_id, payment_id=f"pay-{order_id}", method=PaymentMethod.CARD, reason="no"
    )
    return wrap(event, source="payment", now=SystemClock().now())


def send(settings: Settings, *envelopes: Envelope) -> None:
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    link = BrokerLink(settings.broker_url)
    link.connect()
    link.publish_confirmed([Outgoing(e.encode(), topology.events, e.type, e.id) for e in envelopes])
    link.close()


RELEASED = {"worker": PROBE, "kind": "stock_released", "reason": "payment_failed"}


def test_a_rolled_back_batch_counts_no_compensation(settings: Settings, probe: Worker) -> None:
    before = sample("orderflow_compensations_total", **RELEASED)
    assert before is not None, "there at start"
    assert sample("orderflow_reconnects_total", worker=PROBE) is not None
    assert sample("orderflow_parked_total", worker=PROBE, kind="handler_error") is not None

    send(settings, failed("ord-good"), failed("ord-bad"))
    parked = {"worker": PROBE, "type": "payment.failed", "outcome": "failed"}
    start_failed = sample("orderflow_messages_total", **parked) or 0.0
    wait_until(
        lambda: (sample("orderflow_messages_total", **parked) or 0) > start_failed,
        10,
        lambda: probe.poll(0.05),
        "the bad one parked",
    )

    assert sample("orderflow_compensations_total", **RELEASED) == before + 1, (
        "the batch of two rolled back; only the good one, alone, committed"
    )


def test_the_parking_lot_depth_is_read_from_the_in_memory_broker(
    settings: Settings, probe: Worker
) -> None:
    send(settings, failed("ord-bad"))
    wait_until(lambda: parked_depth(probe) == 1, 10, lambda: probe.poll(0.05), "the gauge up")
    with Connection(settings.broker_url) as connection:
        connection.default_channel.queue_purge(probe.topology.parking_queue_name(PROBE))
    probe.gauges.read()
    assert sample("orderflow_parking_lot_messages", worker=PROBE) == 0


def parked_depth(worker: Worker) -> float | None:
    worker.gauges.read()
    return sample("orderflow_parking_lot_messages", worker=PROBE)


def test_the_sweep_reports_the_oldest_unconfirmed_row_and_the_overdue_timers(
    probe: Worker,
) -> None:
    """A row a crash left in the outbox 90 s ago, a timer due 2 minutes ago that nobody fired:
    the next sweep (with a grace that leaves the row alone) reports both."""
    now = SystemClock().now()
    left = failed("ord-left").model_copy(update={"time": now - timedelta(seconds=90)})
    due = failed("ord-due")
    assert probe.sessions is not None
    with probe.sessions() as session, session.begin():
        probe.tables.outbox.add(session, [left])
        probe.tables.timers.add(session, [(due, now - timedelta(minutes=2))])

    probe.sweep_outbox(timedelta(hours=1))

    age = sample("orderflow_outbox_oldest_age_seconds", worker=PROBE)
    assert age is not None and 90 <= age < 120
    assert sample("orderflow_outbox_backlog", worker=PROBE) == 1
    assert sample("orderflow_timers_overdue", worker=PROBE) == 1
    assert sample("orderflow_ready", worker=PROBE) == 1
    assert sample("orderflow_broker_connected", worker=PROBE) == 1
    assert sample("orderflow_database_reachable", worker=PROBE) == 1
