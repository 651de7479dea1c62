"""The runtime's promises, on both transports: outbox with confirms, inbox dedupe, parking."""

from __future__ import annotations

import json
import threading

import pytest
from kombu import Connection
from kombu.simple import SimpleQueue

from services.stock import bootstrap as stock
from services.stock.store import StockUnitOfWork
from shared.contracts import OrderLine
from shared.envelope import Envelope, wrap
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.factories import order_placed
from tests.integration.helpers import (
    StartWorker,
    handled,
    metric,
    placed,
    received,
    reserved,
    send,
    taken,
)
from tests.support import wait_until


def test_a_handled_message_is_announced_through_the_outbox(
    worker: Worker, events: SimpleQueue, sender: BrokerLink, topology: Topology
) -> None:
    send(sender, topology, placed("ord-a").encode())

    [(body, _)] = received(events, worker, 1)

    announced = Envelope.model_validate_json(body)
    assert (announced.type, announced.subject, announced.source) == (
        "stock.reserved",
        "ord-a",
        "stock",
    )
    worker.poll(0)
    assert worker.sessions is not None
    with worker.sessions() as session:
        assert worker.tables.outbox.backlog(session) == 0
        [row] = worker.tables.outbox.about(session, "ord-a")
    assert row.id == announced.id


def test_publisher_confirms_mean_the_message_is_queued(
    settings: Settings, sender: BrokerLink, topology: Topology, events: SimpleQueue
) -> None:
    """Once ``publish_confirmed`` returns, the broker holds every message."""
    bodies = [placed(f"ord-{n}").encode() for n in range(25)]

    sender.publish_confirmed(
        [
            Outgoing(
                body=b, exchange=topology.events, routing_key="stock.reserved", message_id=str(n)
            )
            for n, b in enumerate(bodies)
        ]
    )

    assert events.qsize() == 25


def test_a_message_delivered_twice_has_one_effect(
    worker: Worker, events: SimpleQueue, sender: BrokerLink, topology: Topology
) -> None:
    envelope = placed("ord-twice")

    send(sender, topology, envelope.encode())
    send(sender, topology, envelope.encode())
    send(sender, topology, placed("ord-after").encode())

    subjects = [Envelope.model_validate_json(b).subject for b, _ in received(events, worker, 2)]
    assert sorted(subjects) == ["ord-after", "ord-twice"]
    assert worker.sessions is not None
    with worker.sessions() as session:
        assert StockUnitOfWork(session).items.get("MUG-BLUE").reserved == 4  # type: ignore[union-attr]


def test_bad_messages_are_parked_with_the_reason_and_the_rest_keep_flowing(
    worker: Worker,
    events: SimpleQueue,
    parking: SimpleQueue,
    sender: BrokerLink,
    topology: Topology,
) -> None:
    good = placed("ord-good")
    wrong_schema = good.model_copy(update={"id": "x1", "data": {**good.data, "lines": "many"}})
    unknown = good.model_copy(update={"id": "x2", "type": "order.exploded"})
    too_big = placed("ord-big").model_copy(update={"data": {**good.data, "padding": "x" * 300_000}})

    for body in (
        b"{not json",
        wrong_schema.encode(),
        unknown.encode(),
        too_big.encode(),
        good.encode(),
    ):
        send(sender, topology, body)

    [(body, _)] = received(events, worker, 1)
    assert Envelope.model_validate_json(body).subject == "ord-good"
    parked = received(parking, worker, 4)
    reasons = {headers["x-orderflow-kind"]: headers["x-orderflow-reason"] for _, headers in parked}
    assert set(reasons) == {"malformed", "invalid", "unknown_type"}
    assert "not JSON" in reasons["malformed"] or "byte limit" in reasons["malformed"]
    assert "lines" in reasons["invalid"]
    assert "order.exploded" in reasons["unknown_type"]
    assert all(h["x-orderflow-worker"] == "stock" for _, h in parked)
    assert all(h["x-orderflow-origin"].endswith("/order.placed") for _, h in parked)


def test_an_order_line_that_cannot_be_met_is_answered_not_parked(
    worker: Worker, events: SimpleQueue, sender: BrokerLink, topology: Topology
) -> None:
    short = order_placed("ord-short", lines=[OrderLine(sku="MUG-BLUE", quantity=99, unit_price=1)])

    send(sender, topology, wrap(short, source="intake").encode())

    [(body, _)] = received(events, worker, 1)
    assert json.loads(body)["type"] == "stock.unavailable"


def test_a_redelivery_after_a_lost_ack_has_no_second_effect(
    settings: Settings, worker: Worker, events: SimpleQueue, sender: BrokerLink, topology: Topology
) -> None:
    """The worker commits, then dies before its ack: the broker redelivers to the next one."""
    if not settings.on_real_broker:
        pytest.skip("kombu's memory transport drops unacked messages when a channel closes")
    worker.link.ack = lambda deliveries: None  # type: ignore[method-assign]
    send(sender, topology, placed("ord-lost-ack").encode())
    received(events, worker, 1)
    worker.link.close()
    duplicates_before = duplicates_seen()

    successor = Worker(stock.bootstrap(), settings)
    successor.start()
    try:
        wait_until(
            lambda: duplicates_seen() == duplicates_before + 1,
            10,
            step=lambda: successor.poll(0.05),
            what="the redelivered message",
        )
        assert successor.sessions is not None
        with successor.sessions() as session:
            assert StockUnitOfWork(session).items.get("MUG-BLUE").reserved == 2  # type: ignore[union-attr]
        assert events.qsize() == 0
    finally:
        successor.close()


def duplicates_seen() -> float:
    labels = {"worker": "stock", "type": "order.placed", "outcome": "duplicate"}
    return metric("orderflow_messages_total", **labels)


def test_a_stopped_worker_finishes_what_it_holds_and_hands_nothing_back(
    start_worker: StartWorker, settings: Settings, sender: BrokerLink, topology: Topology
) -> None:
    """Each order is either handled (and acked) or was never delivered: none is both."""
    worker = start_worker(batch_size=1, prefetch=50)
    for n in range(40):
        send(sender, topology, placed(f"ord-stop-{n}").encode())
    stop = threading.Event()
    running = threading.Thread(target=worker.run, args=(stop, 0.05))

    running.start()
    wait_until(lambda: handled(worker) > 0, 10, what="a first order handled")
    stop.set()
    running.join(settings.shutdown_seconds)

    assert not running.is_alive()
    with Connection(settings.broker_url) as connection:
        _, ready, consumers = connection.channel().queue_declare(
            topology.worker_queue_name("stock"), passive=True
        )
    assert consumers == 0
    assert handled(worker) + ready == 40


SENT_WITH = {
    "correlation_id": "corr-7",
    "reply_to": "shop.replies",
    "type": "order.placed",
    "app_id": "shop-7",
    "timestamp": 1_772_442_000,
}


def sent_as(
    sender: BrokerLink, topology: Topology, envelope: Envelope, content_type: str | None
) -> None:
    """Publish as a foreign publisher might: its own message id, properties and headers."""
    properties = dict(SENT_WITH)
    sender.publish_confirmed(
        [
            Outgoing(
                body=envelope.encode(),
                exchange=topology.events,
                routing_key="order.placed",
                message_id=f"sent-{envelope.subject}",
                correlation_id=properties.pop("correlation_id"),
                headers={"x-shop-trace": "t-1"},
                content_type=content_type,
                content_encoding=None,
                properties=properties,
            )
        ]
    )


def test_a_message_not_sent_as_cloudevents_json_is_parked_keeping_what_was_sent(
    worker: Worker,
    events: SimpleQueue,
    parking: SimpleQueue,
    sender: BrokerLink,
    topology: Topology,
) -> None:
    """The body would parse, but the content type is wrong or missing: parked (``invalid``) with
    a reason naming it; the parked copy keeps the publisher's properties, headers and route.
    The content type with a charset parameter is taken."""
    sent_as(sender, topology, placed("ord-xml"), "application/xml")
    sent_as(sender, topology, placed("ord-none"), None)
    sent_as(sender, topology, placed("ord-ok"), "application/cloudevents+json; charset=utf-8")

    [(body, _)] = received(events, worker, 1)
    assert Envelope.model_validate_json(body).subject == "ord-ok"
    copies = {m.properties["message_id"]: m for m in taken(parking, worker, 2)}
    assert sorted(copies) == ["sent-ord-none", "sent-ord-xml"]
    xml, none = copies["sent-ord-xml"], copies["sent-ord-none"]
    assert xml.headers["x-orderflow-kind"] == none.headers["x-orderflow-kind"] == "invalid"
    assert xml.headers["x-orderflow-reason"] == (
        "(content_type): application/xml is not accepted; accepted: application/cloudevents+json"
    )
    assert "(content_type): the message has no content type" in none.headers["x-orderflow-reason"]
    assert (xml.content_type, none.content_type) == ("application/xml", None)
    for copy in (xml, none):
        assert {p: copy.properties.get(p) for p in SENT_WITH} == SENT_WITH
        assert copy.headers["x-shop-trace"] == "t-1"
        assert copy.headers["x-orderflow-exchange"] == topology.events.name
        assert copy.headers["x-orderflow-routing-key"] == "order.placed"
        assert copy.headers["x-orderflow-parked-id"].startswith("parked-")
    assert reserved(worker) == 2  # ord-ok's two mugs, nothing for the other two


def test_a_body_that_cannot_be_read_is_parked_keeping_what_was_sent(
    worker: Worker, parking: SimpleQueue, sender: BrokerLink, topology: Topology
) -> None:
    broken = placed("ord-broken").model_copy(update={"id": "x"})
    sender.publish_confirmed(
        [
            Outgoing(
                body=broken.encode()[:-5],
                exchange=topology.events,
                routing_key="order.placed",
                message_id="sent-broken",
                headers={"x-shop-trace": "t-2"},
                content_type="text/plain",
            )
        ]
    )

    [copy] = taken(parking, worker, 1)
    assert copy.headers["x-orderflow-kind"] == "malformed"
    reason = copy.headers["x-orderflow-reason"]
    assert reason.startswith("(content_type): text/plain is not accepted;"), reason
    assert "body is not JSON" in reason
    assert (copy.properties["message_id"], copy.content_type) == ("sent-broken", "text/plain")
    assert copy.headers["x-shop-trace"] == "t-2"
    assert copy.headers["x-orderflow-origin"] == f"{topology.events.name}/order.placed"
