"""Traces: the context a message travels with, and the span it is handled in (shared.tracing)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kombu.message import Message as Delivery
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import MetaData
from sqlalchemy.orm import Session, sessionmaker

from shared import tracing
from shared.contracts import OrderCompletionDue
from shared.crash import CrashPoints
from shared.database import open_database
from shared.envelope import Envelope, TraceContext, wrap
from shared.inbound import Inbound, Parked, ParkKind
from shared.messaging import BrokerLink
from shared.publisher import Publisher
from shared.runtime_tables import RuntimeTables
from shared.topology import Topology
from tests.factories import order_placed

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331
INCOMING = {
    "traceparent": f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01",
    "tracestate": "vendor=x",
}
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def ids(context: TraceContext) -> tuple[int, int]:
    """The trace id and the parent's span id of a ``traceparent``."""
    match = TRACEPARENT.fullmatch(context["traceparent"])
    assert match is not None, context
    return int(match[1], 16), int(match[2], 16)


def placed(order_id: str, trace_context: TraceContext | None = None) -> Envelope:
    return wrap(order_placed(order_id), source="intake").travels_with(trace_context)


def delivered(envelope: Envelope) -> Inbound:
    delivery = Delivery(
        body=envelope.encode(),
        delivery_info={"exchange": "ns.events", "routing_key": envelope.type},
        headers=dict(envelope.trace or {}),
    )
    return Inbound(envelope, delivery=delivery, origin=f"ns.events/{envelope.type}")


def current() -> trace.SpanContext:
    return trace.get_current_span().get_span_context()


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Spans of the worker ``stock`` go here."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "orderflow-stock"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install("stock", provider)
    yield exporter
    tracing.stop("stock")


# -- the context a message travels with --------------------------------------------------------


def test_a_delivery_brings_the_trace_context_of_its_headers() -> None:
    assert tracing.carried({**INCOMING, "BCC": ["x"]}) == INCOMING
    assert tracing.carried({"traceparent": INCOMING["traceparent"]}) == {
        "traceparent": INCOMING["traceparent"]
    }
    assert tracing.carried({"tracestate": "vendor=x"}) is None
    assert tracing.carried(None) is None


@pytest.mark.parametrize("prefix", ["ce-", "cloudEvents:", "cloudEvents_"])
def test_a_binary_mode_message_may_bring_it_as_cloudevents_attributes(prefix: str) -> None:
    headers = {f"{prefix}{name}": value for name, value in INCOMING.items()}
    assert tracing.carried({**headers, f"{prefix}id": "x"}) == INCOMING
    assert tracing.carried({**headers, "traceparent": "00-a-b-01"}) == {"traceparent": "00-a-b-01"}


def test_a_context_too_long_for_its_column_is_left_behind() -> None:
    future = {"traceparent": INCOMING["traceparent"].replace("00-", "01-", 1) + "-more"}
    assert tracing.carried(future) is None
    crowded = {**INCOMING, "tracestate": ",".join(f"v{n}=x" for n in range(200))}
    assert tracing.carried(crowded) == {"traceparent": INCOMING["traceparent"]}


def test_without_an_exporter_a_handler_runs_in_its_message_context_and_passes_it_on() -> None:
    item = delivered(placed("ord-1", INCOMING))

    with tracing.batch("stock") as spans, spans.handling(item) as outgoing:
        assert (current().trace_id, current().span_id) == (TRACE_ID, SPAN_ID)

    assert outgoing == INCOMING
    assert not current().is_valid


@pytest.mark.parametrize("came_with", [None, {"traceparent": "00-not-a-trace-01"}])
def test_a_message_without_a_valid_context_starts_a_new_trace(
    came_with: TraceContext | None,
) -> None:
    item = delivered(placed("ord-1", came_with))

    with tracing.batch("stock") as spans, spans.handling(item) as outgoing:
        during = current()

    trace_id, span_id = ids(outgoing)
    assert (during.trace_id, during.span_id) == (trace_id, span_id)
    assert item.envelope.trace == outgoing, "its retries and failure logs join the new trace"


def test_each_message_of_a_batch_gets_a_consumer_span_parented_on_its_own_context(
    exported: InMemorySpanExporter,
) -> None:
    other = {"traceparent": f"00-{1:032x}-{2:016x}-01"}
    first, second = delivered(placed("ord-1", INCOMING)), delivered(placed("ord-2", other))

    with tracing.batch("stock") as spans:
        with spans.handling(first) as first_out:
            assert current().trace_id == TRACE_ID
        with spans.handling(second) as second_out:
            assert current().trace_id == 1
        assert exported.get_finished_spans() == (), "a span ends with the transaction"

    one, two = exported.get_finished_spans()
    assert (one.name, one.kind) == ("process order.placed", SpanKind.CONSUMER)
    assert one.parent is not None and one.parent.is_remote
    assert (one.context.trace_id, one.parent.span_id) == (TRACE_ID, SPAN_ID)
    assert (two.context.trace_id, two.parent and two.parent.span_id) == (1, 2)
    assert ids(first_out) == (TRACE_ID, one.context.span_id)
    assert ids(second_out) == (1, two.context.span_id)
    assert first_out["tracestate"] == "vendor=x"
    assert dict(one.attributes or {}) == {
        "messaging.system": "rabbitmq",
        "messaging.operation": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "ns.events",
        "messaging.rabbitmq.destination.routing_key": "order.placed",
        "messaging.message.id": first.envelope.id,
        "messaging.message.conversation_id": first.envelope.correlationid,
        "orderflow.order.id": "ord-1",
    }
    assert one.resource.attributes["service.name"] == "orderflow-stock"


def test_a_timer_gets_an_internal_span_in_the_trace_that_set_it(
    exported: InMemorySpanExporter,
) -> None:
    due = wrap(OrderCompletionDue(order_id="ord-1"), source="stock").travels_with(INCOMING)
    item = Inbound(due, message=OrderCompletionDue(order_id="ord-1"), origin="timer/x")

    with tracing.batch("stock") as spans, spans.handling(item):
        pass

    [span] = exported.get_finished_spans()
    assert (span.name, span.kind) == ("process order.completion_due", SpanKind.INTERNAL)
    assert span.parent is not None and span.parent.span_id == SPAN_ID
    assert span.attributes is not None and span.attributes["orderflow.origin"] == "timer/x"


def test_a_batch_that_rolls_back_ends_every_span_failed_and_the_failing_one_with_its_error(
    exported: InMemorySpanExporter,
) -> None:
    first, second = delivered(placed("ord-1", INCOMING)), delivered(placed("ord-2", INCOMING))

    with pytest.raises(ValueError), tracing.batch("stock") as spans:
        with spans.handling(first):
            pass
        with spans.handling(second):
            raise ValueError("no such SKU")

    one, two = exported.get_finished_spans()
    assert one.status.status_code == two.status.status_code == StatusCode.ERROR
    assert one.status.description == "rolled back: ValueError"
    assert [event.name for event in two.events] == ["exception"]
    assert not current().is_valid


def test_a_failure_is_logged_in_the_context_its_message_came_with() -> None:
    with tracing.resumed(INCOMING):
        assert (current().trace_id, current().span_id) == (TRACE_ID, SPAN_ID)
    with tracing.resumed(None):
        assert not current().is_valid


def test_an_operator_action_starts_a_trace_with_a_span_of_its_own(
    exported: InMemorySpanExporter,
) -> None:
    context = tracing.started("stock", "operator action")

    [span] = exported.get_finished_spans()
    assert span.parent is None
    assert ids(context) == (span.context.trace_id, span.context.span_id)
    assert ids(tracing.started("payment", "operator action"))[0] != span.context.trace_id


# -- on the wire and in the tables -------------------------------------------------------------


def test_every_publish_carries_its_trace_context_or_a_new_one() -> None:
    topology = Topology("ns", quorum=False, delivery_limit=20)
    publisher = Publisher("stock", BrokerLink("memory://"), topology, CrashPoints(None))

    sent = publisher.outgoing(placed("ord-1", INCOMING)).headers
    assert sent == {"BCC": ["channel.web.order.placed"], **INCOMING}
    fresh = publisher.outgoing(placed("ord-1")).headers
    assert ids(fresh)[0] != ids(publisher.outgoing(placed("ord-1")).headers)[0]


@pytest.fixture
def tables() -> Iterator[tuple[RuntimeTables, sessionmaker[Session]]]:
    metadata = MetaData()
    runtime = RuntimeTables(metadata)
    sessions = open_database("sqlite://", metadata)
    yield runtime, sessions
    sessions.kw["bind"].dispose()


def test_outbox_and_timer_rows_keep_the_context_their_message_travels_with(
    tables: tuple[RuntimeTables, sessionmaker[Session]],
) -> None:
    runtime, sessions = tables
    now = datetime(2026, 12, 1, tzinfo=UTC)
    announced, bare = placed("ord-1", INCOMING), placed("ord-2")
    due = wrap(OrderCompletionDue(order_id="ord-1"), source="intake").travels_with(INCOMING)
    waiting = placed("ord-3", {"traceparent": INCOMING["traceparent"]})
    with sessions() as session, session.begin():
        runtime.outbox.add(session, [announced, bare])
        runtime.timers.add(session, [(due, now)])
        runtime.timers.retry_later(session, waiting, now, 1, "ns.events/order.placed")

    with sessions() as session, session.begin():
        unpublished = runtime.outbox.unpublished(session, now + timedelta(days=365 * 10), 10)
        timers = runtime.timers.claim_due(session, now, 10)

    assert {e.id: e.trace for e in unpublished} == {announced.id: INCOMING, bare.id: None}
    assert {row.envelope.id: row.envelope.trace for row in timers} == {
        due.id: INCOMING,
        waiting.id: {"traceparent": INCOMING["traceparent"]},
    }


def test_a_parked_timer_keeps_its_trace_context() -> None:
    due = wrap(OrderCompletionDue(order_id="ord-1"), source="intake").travels_with(INCOMING)
    parked = Parked(due.encode(), "boom", ParkKind.HANDLER_ERROR, "timer/x", sent=Inbound(due).sent)
    topology = Topology("ns", quorum=False, delivery_limit=20)

    outgoing = parked.outgoing(topology, "intake", 0, datetime.now(UTC))

    assert {k: outgoing.headers[k] for k in INCOMING} == INCOMING
