"""Saga-health metrics as Prometheus sees them: intake, stock and payment each their own process
on the real RabbitMQ and PostgreSQL, /metrics scraped over HTTP.

- every counter with a known label set is there at 0 before anything happened;
- a declined card cancels the order and releases its stock: each compensation the broker carried
  is counted once, by the worker that announced it, with its kind and reason;
- a gateway timeout retried inside payment is counted by its error class;
- an order held past its status's bound (warehouse is not running, so a paid order stays
  ``placed``) is stuck in the gauge and in ``orderflow order stuck``, waiting on the warehouse;
- a parked message raises the parking lot's gauge, and purging it brings the gauge down (the
  count of parkings stays).
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Queue
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.processes import ProcessCluster
from orderflow.operator.operations import await_listed, set_stock
from shared.compensations import KINDS, compensation
from shared.contracts import PaymentMethod
from shared.envelope import Envelope
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from tests.factories import order_submit, paid_by
from tests.support import real_settings, tear_down, wait_until

pytestmark = pytest.mark.real

WORKERS = ["intake", "stock", "payment"]
ENV = {
    "ORDERFLOW_GAUGE_REFRESH_SECONDS": "0.3",
    "ORDERFLOW_OUTBOX_SWEEP_SECONDS": "0.5",
    "ORDERFLOW_TIMER_POLL_SECONDS": "0.05",
    "ORDERFLOW_INTAKE_STUCK_AFTER_SECONDS": '{"placed": 1}',
    "ORDERFLOW_HANDLER_BACKOFF_SECONDS": "0.01",
}


@pytest.fixture
def settings(namespace: str, rabbitmq_url: str, postgres_url: str) -> Iterator[Settings]:
    chosen = real_settings(namespace, rabbitmq_url, postgres_url)
    yield chosen
    tear_down(chosen, WORKERS)


def free_port_base(count: int) -> int:
    """The first of ``count`` consecutive ports nobody listens on now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count < 65535 and all(_free(base + n) for n in range(count)):
            return base
    raise RuntimeError(f"no {count} free consecutive ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@pytest.fixture
def processes(settings: Settings, tmp_path: Path) -> Iterator[ProcessCluster]:
    cluster = ProcessCluster(
        settings, tmp_path / "logs", env=ENV, metrics_port_base=free_port_base(len(WORKERS))
    )
    try:
        yield cluster
    finally:
        cluster.stop()


def ran(settings: Settings, *args: str) -> tuple[int, str]:
    """``orderflow <args>`` in this process with the workers' settings: (exit code, output)."""
    env = {
        "ORDERFLOW_BROKER_URL": settings.broker_url,
        "ORDERFLOW_DATABASE_URL": settings.database_url,
        "ORDERFLOW_DATABASE_URLS": None,
        "ORDERFLOW_NAMESPACE": settings.namespace,
        "ORDERFLOW_INTAKE_STUCK_AFTER_SECONDS": ENV["ORDERFLOW_INTAKE_STUCK_AFTER_SECONDS"],
        "COLUMNS": "250",
    }
    result = CliRunner(env=env).invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def submit(settings: Settings, orders: list[dict[str, Any]]) -> None:
    with ChannelPublisher(settings) as channel:
        channel.send([submit_envelope(order) for order in orders])


def card_order(external_id: str, token: str) -> dict[str, Any]:
    order = order_submit(external_id=external_id, payment=paid_by(PaymentMethod.CARD, token))
    return order.model_dump(mode="json")


def test_saga_health_reads_right_from_a_scrape(
    settings: Settings, processes: ProcessCluster
) -> None:
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    watcher = Connection(settings.broker_url)
    seen = Queue(
        f"{settings.namespace}.test.compensations",
        exchange=topology.events,
        bindings=None,
        durable=False,
        auto_delete=True,
    )
    channel = watcher.channel()
    seen(channel).declare()
    for contract in KINDS:
        channel.queue_bind(seen.name, topology.events.name, contract.type)
    try:
        processes.start(WORKERS)
        scrape = processes.scrape

        # every counter with a known label set is there, at 0, before anything happened
        assert scrape("orderflow_reconnects_total") == {name: 0.0 for name in WORKERS}
        failed = {"type": "order.placed", "outcome": "failed"}
        assert scrape("orderflow_messages_total", **failed) == {"stock": 0.0, "payment": 0.0}
        released = {"kind": "stock_released", "reason": "payment_failed"}
        assert scrape("orderflow_compensations_total", **released) == {"stock": 0.0}
        assert scrape("orderflow_parked_total", kind="malformed") == {n: 0.0 for n in WORKERS}
        wait_until(
            lambda: scrape("orderflow_ready") == {name: 1.0 for name in WORKERS}, 10, what="ready"
        )
        assert scrape("orderflow_broker_connected") == {name: 1.0 for name in WORKERS}
        assert scrape("orderflow_database_reachable") == {name: 1.0 for name in WORKERS}

        set_stock(settings, "MUG-BLUE", 100, "A-1", 350)
        await_listed(settings, ["MUG-BLUE"])
        declined = [card_order(f"DECLINE-{n}", "tok_decline_insufficient_funds") for n in range(2)]
        submit(settings, [*declined, card_order("SLOW-1", "tok_transient")])

        # compensations: counted once each, as the broker carried them
        carried: list[Envelope] = []

        def both_cancelled_and_released() -> bool:
            while (message := channel.basic_get(seen.name, no_ack=True)) is not None:
                carried.append(Envelope.model_validate_json(message.body))
            return len(carried) >= 4

        wait_until(both_cancelled_and_released, 30, what="2 order.cancelled and 2 stock.released")
        expected = Counter(
            (e.source, *found) for e in carried if (found := compensation(e.type, e.data))
        )
        assert expected == {
            ("intake", "order_cancelled", "payment_failed"): 2,
            ("stock", "stock_released", "payment_failed"): 2,
        }

        def counted() -> Counter[tuple[str, str, str]]:
            result: Counter[tuple[str, str, str]] = Counter()
            for kind, reason in {(k, r) for _, k, r in expected}:
                for worker, value in scrape(
                    "orderflow_compensations_total", kind=kind, reason=reason
                ).items():
                    if value:
                        result[(worker, kind, reason)] += int(value)
            return result

        wait_until(lambda: counted() == expected, 10, what=f"compensations counted as {expected}")

        # the gateway's timeouts, retried inside payment
        retried = scrape("orderflow_retries_total", error="TransientError")
        assert retried == {"payment": 2.0}, "the simulated gateway times out twice per key"

        # the paid order waits for the warehouse, which is not running: stuck past 1 s
        def stuck_placed() -> bool:
            return scrape("orderflow_orders_stuck", state="placed").get("intake", 0) >= 1

        wait_until(stuck_placed, 15, what="a stuck placed order in intake's gauge")
        assert scrape("orderflow_orders", state="cancelled", channel="web") == {"intake": 2.0}
        assert scrape("orderflow_order_oldest_age_seconds", state="placed")["intake"] >= 1
        code, text = ran(settings, "order", "stuck", "--format", "json")
        assert code == 0, text
        [listed] = json.loads(text)
        assert (listed["status"], listed["waits_on"], listed["bound_seconds"]) == (
            "placed",
            "warehouse",
            1,
        )
        code, table = ran(settings, "order", "stuck")
        assert code == 0 and listed["order_id"] in table and "warehouse: packing" in table

        # a parked message raises the parking lot's depth; a purge brings it down again
        sender = BrokerLink(settings.broker_url, heartbeat=0)
        sender.connect()
        sender.publish_confirmed([Outgoing(b"not json", topology.events, "order.placed", "junk")])
        sender.close()
        depth = {"worker": "stock"}
        wait_until(
            lambda: scrape("orderflow_parking_lot_messages", **depth) == {"stock": 1.0},
            10,
            what="the parked message in the gauge",
        )
        code, text = ran(settings, "parking", "purge", "--worker", "stock", "--yes")
        assert code == 0, text
        wait_until(
            lambda: scrape("orderflow_parking_lot_messages", **depth) == {"stock": 0.0},
            10,
            what="the gauge down after the purge",
        )
        assert scrape("orderflow_parked_total", kind="malformed")["stock"] == 1.0
    finally:
        watcher.release()
