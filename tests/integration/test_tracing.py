"""One order is one trace: every worker's span of it, and every message it sends, in the trace
its submit started, timers included (``shared.tracing``).

The embedded cluster runs every worker in one process; the spans go to an in-memory exporter,
each worker's with its own ``service.name``. What the workers publish is looked at where the
outside world sees it: at the broker (kombu's memory transport and the real RabbitMQ), and at
an OTLP/HTTP endpoint.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import ClassVar

import pytest
from kombu import Connection, Queue
from kombu.message import Message as Delivery
from kombu.simple import SimpleQueue
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import select

from orderflow.cluster.channel import submit_envelope
from orderflow.cluster.embedded import Cluster
from orderflow.cluster.processes import ProcessCluster
from orderflow.cluster.registry import NAMES
from orderflow.operator.operations import unlisted_at_intake
from orderflow.scenarios.catalogue import SHELVES, stock_shelves
from orderflow.scenarios.orders import order
from services.stock import bootstrap as stock
from services.stock.admin import set_level
from services.stock.store import StockUnitOfWork
from shared import logs, tracing
from shared.clock import ManualClock, SystemClock
from shared.contracts import StockReceive
from shared.database import open_database
from shared.envelope import Envelope, TraceContext, wrap
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.integration.helpers import StartWorker, placed, taken
from tests.support import memory_settings, wait_until

CHANNEL_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CHANNEL_SPAN = 0x00F067AA0BA902B7
CHANNEL = {
    "traceparent": f"00-{CHANNEL_TRACE:032x}-{CHANNEL_SPAN:016x}-01",
    "tracestate": "shop=web",
}
"""What a sales channel that traces its own checkout sends with its submit."""

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def ids(traceparent: str) -> tuple[int, int]:
    """A ``traceparent``'s trace id and parent span id; it must be well formed."""
    match = TRACEPARENT.fullmatch(traceparent)
    assert match is not None, traceparent
    return int(match[1], 16), int(match[2], 16)


def install_in_memory(names: list[str]) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    for name in names:
        provider = TracerProvider(resource=Resource.create({"service.name": f"orderflow-{name}"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracing.install(name, provider)
    return exporter


@pytest.fixture
def cluster(namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """Every worker in one process, on memory:// and SQLite, on a manual clock, its shelves
    stocked."""
    for name in tracing.ENDPOINTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORDERFLOW_NOTIFIER_MAILDIR", str(tmp_path / "mail"))
    cluster = Cluster(memory_settings(namespace, tmp_path), ManualClock(), strict=True)
    cluster.start()
    stock_shelves(cluster["stock"].operate, SHELVES, cluster.clock)
    intake = cluster["intake"].sessions
    assert intake is not None
    skus = [shelf.product.sku for shelf in SHELVES]
    cluster.pump_until(lambda: not unlisted_at_intake(intake, skus), "intake knows every SKU")
    cluster.pump()
    yield cluster
    cluster.close()
    for name in NAMES:
        tracing.stop(name)


@pytest.fixture
def announced(cluster: Cluster) -> Iterator[SimpleQueue]:
    """Everything the workers publish on the events exchange."""
    topology = cluster["intake"].topology
    queue = Queue(f"{cluster.settings.namespace}.probe", exchange=topology.events, routing_key="#")
    with Connection(cluster.settings.broker_url) as connection:
        probe = connection.SimpleQueue(queue)
        yield probe
        probe.close()


def submit(cluster: Cluster, trace_context: TraceContext | None) -> Envelope:
    """A card order's submit, sent as a channel would: with ``trace_context``, or none."""
    envelope = submit_envelope(order("web", "WEB-TRACE-1", "Ada", "en", [("MUG-BLUE", 1)]))
    link = BrokerLink(cluster.settings.broker_url)
    link.connect()
    try:
        outgoing = Outgoing(
            body=envelope.encode(),
            exchange=cluster["intake"].topology.commands,
            routing_key=envelope.type,
            message_id=envelope.id,
            headers=dict(trace_context or {}),
        )
        link.publish_confirmed([outgoing])
    finally:
        link.close()
    return envelope


@dataclass(frozen=True)
class Kept:
    """A message as a worker keeps it to send or fire later: who, why, with which context."""

    worker: str
    envelope: Envelope
    traceparent: str


def kept_rows(cluster: Cluster) -> dict[str, Kept]:
    """Every worker's outbox and timer rows, by message id."""
    found = {}
    for name, worker in cluster.workers.items():
        assert worker.sessions is not None
        with worker.sessions() as session:
            for table in (worker.tables.outbox.table, worker.tables.timers.table):
                for body, traceparent in session.execute(select(table.c.body, table.c.traceparent)):
                    envelope = Envelope.model_validate_json(body)
                    found[envelope.id] = Kept(name, envelope, traceparent)
    return found


def settle_keeping_timers(cluster: Cluster) -> dict[str, Kept]:
    """``Cluster.settle``, looking at the outbox and timer rows before each jump of the clock
    (a timer's row is gone once it fired)."""
    assert isinstance(cluster.clock, ManualClock)
    kept: dict[str, Kept] = {}
    for _ in range(100):
        cluster.pump()
        kept.update(kept_rows(cluster))
        due = cluster.next_timer()
        if due is None:
            return kept
        cluster.clock.advance(max(due - cluster.clock.now(), timedelta(0)))
    raise AssertionError("timers still due after 100 jumps")


def attribute(span: ReadableSpan, name: str) -> object:
    return (span.attributes or {}).get(name)


def service(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"]).removeprefix("orderflow-")


def test_one_order_is_one_trace_across_every_worker_and_its_timers(cluster: Cluster) -> None:
    exporter = install_in_memory(list(NAMES))
    sent = submit(cluster, CHANNEL)

    kept = settle_keeping_timers(cluster)

    spans = exporter.get_finished_spans()
    assert {span.context.trace_id for span in spans} == {CHANNEL_TRACE}
    assert {service(span) for span in spans} == set(NAMES)
    assert "order.completed" in {k.envelope.type for k in kept.values()}
    by_message = {(service(s), attribute(s, "messaging.message.id")): s for s in spans}

    # the submit's span continues the channel's trace, under the channel's span
    [intake] = [s for s in spans if s.name == "process order.submit"]
    assert intake.parent is not None and intake.parent.is_remote
    assert intake.parent.span_id == CHANNEL_SPAN

    # what a handler announced or set as a timer keeps the context of the span it was handled in
    caused = {i: k for i, k in kept.items() if k.envelope.causationid is not None}
    for row in caused.values():
        cause = by_message[(row.worker, row.envelope.causationid)]
        assert ids(row.traceparent) == (CHANNEL_TRACE, cause.context.span_id), row.envelope.type

    # every other span is a child of the span that handled its message's cause
    for span in spans:
        if span is intake:
            continue
        row = caused[str(attribute(span, "messaging.message.id"))]
        assert span.parent is not None and span.parent.span_id == ids(row.traceparent)[1]

    # a delivery's span is a messaging consumer; a timer's is the worker's own
    consumers = [s for s in spans if s.kind == SpanKind.CONSUMER]
    timers = [s for s in spans if s.kind == SpanKind.INTERNAL]
    assert len(consumers) + len(timers) == len(spans)
    order_id = next(k.envelope.subject for k in kept.values() if k.envelope.type == "order.placed")
    for span in consumers:
        routing_key = attribute(span, "messaging.rabbitmq.destination.routing_key")
        assert span.name == f"process {routing_key}"
        assert attribute(span, "messaging.system") == "rabbitmq"
        assert attribute(span, "messaging.operation") == "process"
        namespace = cluster.settings.namespace
        heard_on = {f"{namespace}.events", f"{namespace}.commands"}
        if service(span) == "reporting":  # its events come in batches
            heard_on = {f"{namespace}.events.batched"}
        assert attribute(span, "messaging.destination.name") in heard_on
        assert attribute(span, "messaging.message.conversation_id") == sent.subject
        if span is not intake:
            assert attribute(span, "orderflow.order.id") == order_id
    fired = {(service(s), s.name) for s in timers}
    assert ("intake", "process order.completion_due") in fired
    assert ("shipping", "process carrier.tracking_update") in fired
    [completion] = [s for s in timers if s.name == "process order.completion_due"]
    assert completion.parent is not None
    assert by_message_name(spans, completion.parent.span_id) == (
        "intake",
        "process shipment.delivered",
    )


def by_message_name(spans: tuple[ReadableSpan, ...], span_id: int) -> tuple[str, str]:
    [span] = [s for s in spans if s.context.span_id == span_id]
    return service(span), span.name


def test_without_an_exporter_every_announcement_carries_the_channels_trace(
    cluster: Cluster, announced: SimpleQueue
) -> None:
    submit(cluster, CHANNEL)
    cluster.settle()

    messages = drained(announced)
    assert len(messages) > 5
    assert "notification.sent" in routing_keys(messages)
    contexts = {(m.headers["traceparent"], m.headers.get("tracestate")) for m in messages}
    assert contexts == {(CHANNEL["traceparent"], CHANNEL["tracestate"])}


def test_a_submit_without_a_trace_context_starts_one_trace_at_intake(
    cluster: Cluster, announced: SimpleQueue
) -> None:
    submit(cluster, None)
    cluster.settle()

    messages = drained(announced)
    assert len(messages) > 5
    assert "notification.sent" in routing_keys(messages)
    assert len({ids(m.headers["traceparent"])[0] for m in messages}) == 1


def routing_keys(messages: list[Delivery]) -> set[str]:
    return {m.delivery_info["routing_key"] for m in messages}


def drained(queue: SimpleQueue) -> list[Delivery]:
    """What waits on ``queue``, the notifier's ``notification.sent`` included: it continues the
    trace of the event its e-mail is about."""
    found = []
    while True:
        try:
            message = queue.get(timeout=0.01)
        except queue.Empty:
            return found
        message.ack()
        found.append(message)


@pytest.fixture
def written() -> Iterator[StringIO]:
    """The JSON log lines of this process, as a log collector reads them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = StringIO()
    logs.configure("json", "debug", replica="test", stream=out)
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_messages_log_lines_carry_its_trace_even_once_it_failed(
    namespace: str, tmp_path: Path, written: StringIO
) -> None:
    """Handled (its span current), failed and parked (after its span): each line names the
    trace of the message, which came from a channel that traces."""
    settings = memory_settings(namespace, tmp_path)
    cluster = Cluster(settings, ManualClock(), names=["stock"])
    cluster.start()
    exporter = install_in_memory(["stock"])
    try:
        unknown = wrap(StockReceive(receipt_id="GR-7", sku="LAMP-NEW", quantity=5), source="erp")
        link = BrokerLink(settings.broker_url)
        link.connect()
        outgoing = Outgoing(
            body=unknown.encode(),
            exchange=cluster["stock"].topology.commands,
            routing_key=unknown.type,
            message_id=unknown.id,
            headers=CHANNEL,
        )
        link.publish_confirmed([outgoing])
        link.close()
        cluster.pump()
    finally:
        cluster.close()
        tracing.stop("stock")

    lines = {line["event"]: line for line in map(json.loads, written.getvalue().splitlines())}
    for event in ("handling failed", "message parked"):
        assert lines[event]["trace_id"] == f"{CHANNEL_TRACE:032x}", event
        assert lines[event]["message_id"] == unknown.id, event
    [span] = exporter.get_finished_spans()
    assert (span.context.trace_id, span.status.status_code) == (CHANNEL_TRACE, StatusCode.ERROR)


# -- at the broker, and at an OTLP endpoint ------------------------------------------------------


def send_in_channels_trace(sender: BrokerLink, topology: Topology, cause: Envelope) -> None:
    """Publish ``cause`` as a traced channel would: in the channel's trace context."""
    outgoing = Outgoing(
        body=cause.encode(),
        exchange=topology.events,
        routing_key=cause.type,
        message_id=cause.id,
        headers=CHANNEL,
    )
    sender.publish_confirmed([outgoing])


@pytest.mark.parametrize("exported", [False, True], ids=["not-exported", "exported"])
def test_a_worker_publishes_a_valid_traceparent_in_its_causes_trace(
    worker: Worker, events: SimpleQueue, sender: BrokerLink, topology: Topology, exported: bool
) -> None:
    """On memory:// and on the real RabbitMQ (the ``settings`` fixture): the message as the
    broker hands it out carries the trace context; its parent is the cause's span, exported or
    not."""
    exporter = install_in_memory(["stock"]) if exported else None
    cause = placed("ord-t")
    send_in_channels_trace(sender, topology, cause)
    try:
        [reserved] = taken(events, worker, 1)
    finally:
        tracing.stop("stock")

    assert reserved.headers["tracestate"] == CHANNEL["tracestate"]
    trace_id, parent = ids(reserved.headers["traceparent"])
    assert trace_id == CHANNEL_TRACE
    if exporter is None:
        assert parent == CHANNEL_SPAN
    else:
        [span] = exporter.get_finished_spans()
        assert parent == span.context.span_id
        assert span.parent is not None and span.parent.span_id == CHANNEL_SPAN


def test_a_row_another_replica_sweeps_goes_out_with_the_context_it_was_written_in(
    start_worker: StartWorker, events: SimpleQueue, sender: BrokerLink, topology: Topology
) -> None:
    """The first replica commits the announcement but dies before publishing it; the second's
    outbox sweep publishes it, with the context of the first one's span."""
    exporter = install_in_memory(["stock"])
    first = start_worker(outbox_sweep_seconds=3600)
    first.poll(0)  # its first sweep, on an empty outbox
    first.relay.publish = lambda envelopes: None  # type: ignore[method-assign]
    cause = placed("ord-s")
    send_in_channels_trace(sender, topology, cause)
    try:
        wait_until(
            lambda: bool(exporter.get_finished_spans()),
            timeout=20,
            step=lambda: first.poll(0.05),
            what="the first replica handled it",
        )
        second = start_worker()
        second.sweep_outbox(timedelta(0))
        [reserved] = taken(events, second, 1)
    finally:
        tracing.stop("stock")

    [span] = exporter.get_finished_spans()
    assert ids(reserved.headers["traceparent"]) == (CHANNEL_TRACE, span.context.span_id)
    assert reserved.headers["tracestate"] == CHANNEL["tracestate"]


class Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bytes]]]:
    """An OTLP/HTTP endpoint on a free port, set as ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield Collector.received
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("settings", ["memory"], indirect=True)
def test_with_an_endpoint_set_a_worker_exports_its_spans_over_otlp(
    collector: list[tuple[str, bytes]],
    start_worker: StartWorker,
    events: SimpleQueue,
    sender: BrokerLink,
    topology: Topology,
    settings: Settings,
) -> None:
    stock = start_worker()
    assert tracing.exporting("stock")
    cause = placed("ord-x")
    send_in_channels_trace(sender, topology, cause)
    taken(events, stock, 1)
    tracing.stop("stock")  # as the worker does when it closes: what waits is exported

    wait_until(lambda: bool(collector), timeout=10, what="an OTLP export")
    [(path, body)] = collector
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "orderflow-stock"
    [span] = [span for scope in resource_spans.scope_spans for span in scope.spans]
    assert span.name == "process order.placed"
    assert span.trace_id.hex() == f"{CHANNEL_TRACE:032x}"
    assert span.parent_span_id.hex() == f"{CHANNEL_SPAN:016x}"


@pytest.mark.parametrize("settings", ["rabbitmq"], indirect=True)
def test_a_worker_process_exports_its_spans_before_it_exits_on_sigterm(
    collector: list[tuple[str, bytes]],
    settings: Settings,
    tmp_path: Path,
    events: SimpleQueue,
    sender: BrokerLink,
    topology: Topology,
) -> None:
    """``orderflow worker stock`` as operators run it, with the endpoint in its environment: its
    span is exported by the time it has exited, well before the exporter's 5 s schedule."""
    service = stock.bootstrap()
    sessions = open_database(settings.database_url_for("stock"), service.metadata)
    with sessions() as session, session.begin():
        set_level(StockUnitOfWork(session), "MUG-BLUE", 100, SystemClock().now(), "A-1", 1)
    sessions.kw["bind"].dispose()
    processes = ProcessCluster(settings, tmp_path)
    replica = processes.spawn("stock")
    try:
        processes.wait_ready(30)
        cause = placed("ord-p")
        send_in_channels_trace(sender, topology, cause)
        reserved = events.get(timeout=20)
        reserved.ack()
    finally:
        replica.process.send_signal(signal.SIGTERM)
        assert replica.process.wait(30) == 0

    spans = [
        (resource, span)
        for _, body in collector
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    [(resource, span)] = spans
    names = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert (names["service.name"], span.name) == ("orderflow-stock", "process order.placed")
    assert span.trace_id.hex() == f"{CHANNEL_TRACE:032x}"
    assert ids(reserved.headers["traceparent"]) == (CHANNEL_TRACE, int(span.span_id.hex(), 16))
