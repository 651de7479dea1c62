"""Bad submissions are refused at the door: every worker its own process on RabbitMQ and
PostgreSQL, and a plain AMQP publisher (py-amqp, none of orderflow's own publishing code) as the
channel.

An unknown SKU, a currency not accepted, and a valid order sent as ``application/xml`` or with
no content type: each is answered with ``order.rejected`` under the channel's own reference,
naming the field, and nothing happens downstream. A probe queue bound to ``#`` on the events
exchange sees nothing about them but the rejection and the notifier's e-mail; stock reserves
nothing, the payment gateway's ledger holds no charge, nothing is parked. A good order sent
after them (with ``; charset=utf-8`` on its content type) goes all the way, so the probe is
known to hear what downstream says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import amqp
import pytest
from kombu import Connection, Queue
from sqlalchemy import func, select

from orderflow.cluster.channel import submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.cluster.registry import NAMES
from orderflow.operator.operations import await_listed, set_stock
from services.intake.model import Order
from services.payment.gateway import GatewayEntry
from services.stock.model import Reservation
from shared.settings import Settings
from shared.topology import Topology
from tests.support import wait_until

CLOUDEVENTS = "application/cloudevents+json"
STREET = {"line1": "Invalidenstr. 117", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def submission(external_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "channel": "web",
        "external_id": external_id,
        "customer": {"name": "Test Customer", "email": "customer@example.com", "language": "en"},
        "lines": [{"sku": "MUG-BLUE", "quantity": 1, "unit_price": 1250}],
        "currency": "EUR",
        "shipping_fee": 495,
        "delivery": {"option": "standard", "address": STREET},
        "payment": {"method": "card", "token": "tok_visa"},
        **changes,
    }


BAD = {
    "BAD-SKU": (
        submission(
            "BAD-SKU",
            lines=[
                {"sku": "MUG-BLUE", "quantity": 1, "unit_price": 1250},
                {"sku": "MUG-UNICORN", "quantity": 2, "unit_price": 1990},
            ],
        ),
        CLOUDEVENTS,
        [("lines[1].sku", "MUG-UNICORN is not in the catalogue")],
    ),
    "BAD-CURRENCY": (
        submission("BAD-CURRENCY", currency="XXX"),
        CLOUDEVENTS,
        [("currency", "XXX is not accepted; accepted: ")],
    ),
    "BAD-XML": (
        submission("BAD-XML"),
        "application/xml",
        [("(content_type)", f"application/xml is not accepted; accepted: {CLOUDEVENTS}")],
    ),
    "BAD-NONE": (
        submission("BAD-NONE"),
        None,
        [("(content_type)", f"the message has no content type; accepted: {CLOUDEVENTS}")],
    ),
}
GOOD = "GOOD-1"


@pytest.fixture
def running(
    settings: Settings, processes: ProcessCluster
) -> Iterator[tuple[WorkerDatabases, Topology]]:
    processes.start()
    set_stock(settings, "MUG-BLUE", 100, "A-01-02", 350)
    await_listed(settings, ["MUG-BLUE"])
    dbs = WorkerDatabases(settings)
    try:
        yield dbs, Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    finally:
        dbs.dispose()


def publish_as_a_channel(
    settings: Settings, topology: Topology, orders: list[tuple[dict[str, Any], str | None]]
) -> None:
    """Each order's envelope, sent to the commands exchange with publisher confirms and the
    content type given (None: no content type at all)."""
    host = settings.broker_url.split("@")[-1].rstrip("/")
    with amqp.Connection(host=host, userid="guest", password="guest") as connection:
        channel = connection.channel()
        channel.confirm_select()
        for order, content_type in orders:
            envelope = submit_envelope(order)
            properties: dict[str, Any] = {"message_id": envelope.id, "delivery_mode": 2}
            if content_type is not None:
                properties["content_type"] = content_type
            channel.basic_publish_confirm(
                amqp.Message(envelope.encode(), **properties),
                exchange=topology.commands.name,
                routing_key="order.submit",
            )


def test_each_bad_submission_is_rejected_naming_the_field_and_nothing_happens_downstream(
    settings: Settings,
    running: tuple[WorkerDatabases, Topology],
) -> None:
    dbs, topology = running
    with Connection(settings.broker_url) as connection:
        probe = connection.SimpleQueue(
            Queue(f"{settings.namespace}.probe", topology.events, "#", auto_delete=True)
        )
        orders = [(order, content_type) for order, content_type, _ in BAD.values()]
        publish_as_a_channel(
            settings, topology, [*orders, (submission(GOOD), CLOUDEVENTS + "; charset=utf-8")]
        )

        def statuses() -> dict[str, str]:
            with dbs.session("intake") as session:
                return {o.external_id: o.status for o in session.scalars(select(Order))}

        wanted = {**dict.fromkeys(BAD, "rejected"), GOOD: "completed"}
        wait_until(lambda: statuses() == wanted, 60, what=f"orders {wanted}")
        heard = heard_until_told(probe, dbs, len(BAD))
        probe.close()

    with dbs.session("intake") as session:
        ids = {o.external_id: o.id for o in session.scalars(select(Order))}
    for external_id, (_, _, problems) in BAD.items():
        about = [event for event in heard if event["subject"] == ids[external_id]]
        assert sorted(e["type"] for e in about) == ["notification.sent", "order.rejected"]
        [rejected] = [e["data"] for e in about if e["type"] == "order.rejected"]
        assert (rejected["channel"], rejected["external_id"]) == ("web", external_id)
        said = [(p["field"], p["message"]) for p in rejected["problems"]]
        assert len(said) == len(problems), said
        for (field, message), (expected_field, expected_start) in zip(said, problems, strict=True):
            assert field == expected_field and message.startswith(expected_start), said
    subjects = {event["subject"] for event in heard}
    assert subjects == {ids[external_id] for external_id in [*BAD, GOOD]}
    assert {e["type"] for e in heard if e["subject"] == ids[GOOD]} >= {
        "stock.reserved",
        "payment.captured",
        "order.completed",
    }

    bad_ids = [ids[external_id] for external_id in BAD]
    with dbs.session("stock") as session:
        query = select(func.count()).where(Reservation.order_id.in_(bad_ids))
        assert session.scalar(query) == 0
    with dbs.session("payment") as session:
        charges = session.scalars(select(GatewayEntry.amount)).all()
    assert charges == [1250 + 495], "the gateway charged only the good order"
    assert parked(settings, topology) == dict.fromkeys(NAMES, 0)


def heard_until_told(probe: Any, dbs: WorkerDatabases, rejections: int) -> list[dict[str, Any]]:
    """What the probe heard, once the notifier told every rejection and nothing more came for
    a moment (the good order completed before, so downstream has long had its say)."""
    heard: list[dict[str, Any]] = []

    def told() -> bool:
        while True:
            try:
                message = probe.get(timeout=0.5)
            except probe.Empty:
                break
            message.ack()
            heard.append(json.loads(message.body))
        rejected = {e["subject"] for e in heard if e["type"] == "order.rejected"}
        notified = {e["subject"] for e in heard if e["type"] == "notification.sent"}
        return len(rejected) == rejections and rejected <= notified

    wait_until(told, 30, what="every rejection told")
    told()
    return heard


def parked(settings: Settings, topology: Topology) -> dict[str, int]:
    with Connection(settings.broker_url) as connection:
        channel = connection.channel()
        return {
            name: channel.queue_declare(topology.parking_queue_name(name), passive=True)[1]
            for name in NAMES
        }
