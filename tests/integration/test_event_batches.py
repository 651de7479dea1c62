"""Event batches (``shared.event_batches``) at the broker, on memory:// and on RabbitMQ: what a
worker publishes there beside its events, and how the reporting worker takes a batch apart,
parking a bad line alone with its reason and a batch that does not add up as a whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kombu import Connection, Queue
from kombu.simple import SimpleQueue
from sqlalchemy import select

from orderflow.operator.parking import Filters, audited
from services.reporting import bootstrap as reporting
from services.reporting.model import ReportedOrder
from shared import event_batches
from shared.envelope import wrap
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.factories import order_placed
from tests.integration.helpers import StartWorker, placed, received, send
from tests.support import wait_until


def probe(settings: Settings, name: str, exchange_of: str, key: str) -> Iterator[SimpleQueue]:
    topology = Topology.of(settings)
    exchange = topology.batched if exchange_of == "batched" else topology.events
    queue = Queue(f"{settings.namespace}.{name}", exchange=exchange, routing_key=key)
    with Connection(settings.broker_url) as connection:
        watching = connection.SimpleQueue(queue)
        yield watching
        watching.close()


@pytest.fixture
def batches(settings: Settings) -> Iterator[SimpleQueue]:
    """What goes out on the batched events exchange as ``stock.reserved``."""
    yield from probe(settings, "batches", "batched", "stock.reserved")


@pytest.fixture
def events(settings: Settings) -> Iterator[SimpleQueue]:
    yield from probe(settings, "probe", "events", "stock.reserved")


@pytest.fixture
def reporter(settings: Settings) -> Iterator[Worker]:
    worker = Worker(reporting.bootstrap(), settings)
    worker.start()
    yield worker
    worker.close()


def test_a_transactions_events_go_out_again_as_one_batch_of_their_type(
    start_worker: StartWorker,
    sender: BrokerLink,
    topology: Topology,
    events: SimpleQueue,
    batches: SimpleQueue,
) -> None:
    stock = start_worker()
    for n in range(3):
        send(sender, topology, placed(f"ord-{n}").encode())

    singles = received(events, stock, 3)
    [(body, headers)] = received(batches, stock, 1)

    lines = event_batches.lines(to_bytes(body), headers)
    assert [line.body for line in lines] == [to_bytes(b) for b, _ in singles]
    assert [line.headers["traceparent"] for line in lines] == [h["traceparent"] for _, h in singles]
    assert headers[event_batches.COUNT] == 3


def test_a_worker_told_not_to_publishes_no_batches(
    start_worker: StartWorker,
    sender: BrokerLink,
    topology: Topology,
    events: SimpleQueue,
    batches: SimpleQueue,
) -> None:
    stock = start_worker(publish_event_batches=False)
    send(sender, topology, placed("ord-1").encode())

    received(events, stock, 1)
    stock.poll(0.05)
    with pytest.raises(batches.Empty):
        batches.get(timeout=0.2)


def test_reporting_takes_each_event_of_a_batch_and_parks_a_bad_line_alone(
    settings: Settings, reporter: Worker, sender: BrokerLink
) -> None:
    good = placed("ord-good")
    unreadable = b'{"not": "an envelope"'
    invalid = wrap(order_placed("ord-bad"), source="intake").body
    invalid_body = invalid.replace(b'"quantity":2', b'"quantity":-2', 1)
    assert invalid_body != invalid
    send_batch(sender, settings, [good.body, unreadable, invalid_body], ["", "", ""])

    with Connection(settings.broker_url) as connection:
        lot = connection.SimpleQueue(Topology.of(settings).parking_queue("reporting"))
        parked = received(lot, reporter, 2)
        lot.close()

    assert reported(reporter) == ["ord-good"]
    by_body = {to_bytes(body): headers for body, headers in parked}
    assert set(by_body) == {unreadable, invalid_body}
    assert by_body[unreadable]["x-orderflow-kind"] == "malformed"
    assert by_body[invalid_body]["x-orderflow-kind"] == "invalid"
    assert "quantity" in by_body[invalid_body]["x-orderflow-reason"]
    for headers in by_body.values():
        assert headers["x-orderflow-exchange"] == f"{settings.namespace}.events.batched"
        assert headers["x-orderflow-routing-key"] == "order.placed"
        assert event_batches.COUNT not in headers, "parked as the event alone"


def test_a_batch_whose_count_does_not_match_its_lines_is_parked_whole(
    settings: Settings, reporter: Worker, sender: BrokerLink
) -> None:
    lines = [placed("ord-1").body, placed("ord-2").body]
    send_batch(sender, settings, lines, ["", ""], count=3)

    with Connection(settings.broker_url) as connection:
        lot = connection.SimpleQueue(Topology.of(settings).parking_queue("reporting"))
        [(body, headers)] = received(lot, reporter, 1)
        lot.close()

    assert to_bytes(body) == b"\n".join(lines)
    assert headers["x-orderflow-kind"] == "malformed"
    assert headers["x-orderflow-reason"] == "x-orderflow-batch: says 3 events, the body has 2 lines"
    assert reported(reporter) == []


def send_batch(
    sender: BrokerLink,
    settings: Settings,
    bodies: list[bytes],
    traceparents: list[str],
    count: int | None = None,
) -> None:
    sender.publish_confirmed(
        [
            Outgoing(
                body=b"\n".join(bodies),
                exchange=Topology.of(settings).batched,
                routing_key="order.placed",
                message_id="batch-1",
                content_type=event_batches.CONTENT_TYPE,
                headers={
                    event_batches.COUNT: len(bodies) if count is None else count,
                    event_batches.TRACEPARENTS: traceparents,
                },
            )
        ]
    )


def reported(worker: Worker) -> list[str]:
    assert worker.sessions is not None
    with worker.sessions() as session:
        return list(session.scalars(select(ReportedOrder.order_id).order_by("order_id")))


def to_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)


@pytest.mark.real
def test_a_batch_parked_whole_is_replayed_whole_once_every_line_would_be_taken(
    settings: Settings, reporter: Worker, sender: BrokerLink
) -> None:
    """As the broker parks a batch that crashed reporting ``delivery_limit`` times: the parking
    lot checks each line as the worker would, and replays the batch to reporting alone."""
    if not settings.on_real_broker:
        pytest.skip("the parking lot reads RabbitMQ only")
    good = [placed("ord-1").body, placed("ord-2").body]
    bad = [placed("ord-3").body, b'{"not": "an envelope"}']
    for number, bodies in enumerate((good, bad)):
        park_whole(sender, settings, bodies, f"crashed-{number}")

    with audited(settings) as lot:
        parked = lot.read(Filters(workers=("reporting",)))
        assert sorted(m.type for m in parked) == ["order.placed", "order.placed"]
        outcomes = {o.message.parking_id: o for o in lot.replay(parked)}

    assert outcomes["crashed-0"].done, outcomes["crashed-0"].result
    assert not outcomes["crashed-1"].done
    assert outcomes["crashed-1"].result.startswith("left parked: still invalid: line 2: ")
    wait_until(
        lambda: reported(reporter) == ["ord-1", "ord-2"], 20, step=lambda: reporter.poll(0.05)
    )


def park_whole(sender: BrokerLink, settings: Settings, bodies: list[bytes], parked_id: str) -> None:
    topology = Topology.of(settings)
    sender.publish_confirmed(
        [
            Outgoing(
                body=b"\n".join(bodies),
                exchange=topology.parking,
                routing_key="reporting",
                message_id=f"batch-{parked_id}",
                content_type=event_batches.CONTENT_TYPE,
                headers={
                    event_batches.COUNT: len(bodies),
                    "x-orderflow-parked-id": parked_id,
                    "x-orderflow-kind": "retries_exhausted",
                    "x-orderflow-reason": "delivered 20 times",
                    "x-orderflow-exchange": topology.batched.name,
                    "x-orderflow-routing-key": "order.placed",
                },
            )
        ]
    )
