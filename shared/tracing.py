"""Traces (OpenTelemetry): W3C trace context on every message, a span per handled message.

Every message travels with its trace context (``traceparent``, and ``tracestate`` when there is
one): in its AMQP headers on the wire, and in columns beside it in the outbox and the timer
table, so that the relay, the sweep and a replica that publishes a row later all send the same.
A handler runs in its message's context, and what it announces and the timers it sets carry the
context it ran in. So one order is one trace, from the channel's submit through every worker,
timers included. A message that came without a context starts a new trace when handled.

Spans are made only for a worker whose spans go somewhere (``start``: when
``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set; ``install`` in
tests). Then each handled message gets a span ``process <type>``, parented on the context the
message came with: kind CONSUMER with the messaging attributes for a delivery, INTERNAL for a
due timer or a delayed try. A batch handles its messages in one transaction, so each span ends
with it, as failed if the transaction rolled back. Without an exporter no span is made (a span
costs some 20-30 µs of CPU a message, the context alone about 5; ``bench/tracing.py``): the
handler runs in the context its message came with (a non-recording span, so that logs still
read the trace id), and its announcements pass that context on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.binary_mode import attributes_of
from shared.envelope import TraceContext
from shared.inbound import Inbound
from shared.outbox import TRACEPARENT_LENGTH, TRACESTATE_LENGTH

ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""Either turns export on (OTLP over HTTP); the exporter reads the rest of the standard
``OTEL_*`` variables (headers, timeout, sampler, resource attributes) itself."""

SYSTEM = "rabbitmq"

_PROPAGATOR = TraceContextTextMapPropagator()
_IDS = RandomIdGenerator()
_providers: dict[str, TracerProvider] = {}
_tracers: dict[str, trace.Tracer] = {}


# -- set-up ----------------------------------------------------------------------------------


def start(worker: str) -> bool:
    """Export ``worker``'s spans over OTLP/HTTP, as service ``orderflow-<worker>``, if an
    endpoint is set (and ``OTEL_SDK_DISABLED`` is not ``true``); whether they are exported.

    Called as a worker is built (by its ``BatchTransaction``). What waits to be exported goes
    when the process exits (the SDK's exit hook), or at once with ``stop``."""
    if worker in _providers:
        return True
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if disabled or not any(os.environ.get(name) for name in ENDPOINTS):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"orderflow-{worker}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(worker, provider)
    return True


def install(worker: str, provider: TracerProvider) -> None:
    """Make spans of ``worker``'s messages with ``provider`` (``start``, and tests)."""
    _providers[worker] = provider
    _tracers[worker] = provider.get_tracer("orderflow")


def stop(worker: str) -> None:
    """Export what ``worker``'s spans are waiting to, and make no more (the worker stops)."""
    _tracers.pop(worker, None)
    provider = _providers.pop(worker, None)
    if provider is not None:
        provider.shutdown()


def exporting(worker: str) -> bool:
    return worker in _tracers


# -- contexts --------------------------------------------------------------------------------


def carried(headers: Mapping[str, Any] | None) -> TraceContext | None:
    """The trace context in a delivery's AMQP headers, if it has a ``traceparent`` of at most
    ``TRACEPARENT_LENGTH`` characters (a version this code knows); a ``tracestate`` longer than
    ``TRACESTATE_LENGTH`` is left behind (W3C asks to pass on at least that much).

    A CloudEvents binary-mode message may carry it as the Distributed Tracing extension's
    attributes instead (``ce-traceparent``, ``cloudEvents:traceparent``; ``shared.binary_mode``)."""
    if not headers:
        return None
    if "traceparent" not in headers:
        headers = attributes_of(headers)
    parent = headers.get("traceparent")
    if not isinstance(parent, str) or len(parent) > TRACEPARENT_LENGTH:
        return None
    state = headers.get("tracestate")
    if isinstance(state, str) and state and len(state) <= TRACESTATE_LENGTH:
        return {"traceparent": parent, "tracestate": state}
    return {"traceparent": parent}


def headers(trace_context: TraceContext | None) -> dict[str, str]:
    """The AMQP headers that carry ``trace_context``: a new trace's if it has none (a row
    written before traces were, a command sent by a tool)."""
    return dict(trace_context) if trace_context else new_trace()


def new_trace() -> dict[str, str]:
    """A new trace's context, with no span behind it."""
    span = SpanContext(
        _IDS.generate_trace_id(),
        _IDS.generate_span_id(),
        is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return _inject(trace.set_span_in_context(NonRecordingSpan(span)))


def started(worker: str, name: str) -> TraceContext:
    """The context of a new trace that ``worker`` starts (an operator action): its span's,
    ended at once, when its spans are exported."""
    tracer = _tracers.get(worker)
    if tracer is None:
        return new_trace()
    span = tracer.start_span(name, context=Context(), kind=SpanKind.INTERNAL)
    span.end()
    return _inject(trace.set_span_in_context(span))


def current() -> TraceContext | None:
    """The context this thread runs in (a handler's: its message's), for a row that keeps it
    until later work announces what the row stands for."""
    return _inject(otel_context.get_current()) or None


@contextmanager
def resumed(trace_context: TraceContext | None) -> Iterator[None]:
    """Be in ``trace_context``, a message's (logging its failure, after its span ended)."""
    context = _extracted(trace_context)
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


def _extracted(trace_context: TraceContext | None) -> Context | None:
    if not trace_context:
        return None
    context = _PROPAGATOR.extract(trace_context)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def _inject(context: Context) -> dict[str, str]:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context)
    return carrier


# -- spans -----------------------------------------------------------------------------------


@contextmanager
def batch(worker: str) -> Iterator[Spans]:
    """The spans of a batch handled in one transaction: ended when it ends, as failed if it
    raises (whatever rolled it back)."""
    spans = Spans(_tracers.get(worker))
    try:
        yield spans
    except BaseException as error:
        spans.end(error)
        raise
    spans.end(None)


class Spans:
    def __init__(self, tracer: trace.Tracer | None) -> None:
        self.tracer = tracer
        self.open: list[Span] = []

    def handling(self, item: Inbound) -> Handling:
        """Run ``item``'s handler in its span (``with``), which gives the context that its
        announcements and timers carry."""
        return Handling(self, item)

    def end(self, error: BaseException | None) -> None:
        for span in self.open:
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, f"rolled back: {type(error).__name__}"))
            span.end()
        self.open.clear()


class Handling:
    """One message's handler, run in its span (or, with no tracer, in its context)."""

    def __init__(self, spans: Spans, item: Inbound) -> None:
        self.spans = spans
        self.item = item
        self.span: Span | None = None
        self.token: Token[Context] | None = None

    def __enter__(self) -> TraceContext:
        envelope = self.item.envelope
        parent = _extracted(envelope.trace)
        tracer = self.spans.tracer
        context: Context | None
        if tracer is None:  # no span: the context is passed on as it came
            if parent is not None and envelope.trace is not None:
                outgoing, context = envelope.trace, parent
            else:
                outgoing = new_trace()
                context = _extracted(outgoing)
        else:
            self.span = tracer.start_span(
                f"process {envelope.type}",
                context=parent or Context(),
                kind=SpanKind.CONSUMER if self.item.delivery is not None else SpanKind.INTERNAL,
                attributes=attributes(self.item),
            )
            self.spans.open.append(self.span)
            context = trace.set_span_in_context(self.span)
            outgoing = _inject(context)
        if parent is None:
            envelope.travels_with(outgoing)  # its retries, and the log of its failure, join in
        self.token = otel_context.attach(context or Context())
        return outgoing

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.token is not None:
            otel_context.detach(self.token)
        if error is not None and self.span is not None:
            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))


def attributes(item: Inbound) -> dict[str, str | int]:
    """The span's attributes, per OpenTelemetry's messaging conventions: for a delivery, the
    exchange (destination) and routing key it came by; for a due timer or a delayed try, where it
    came from first (``orderflow.origin``)."""
    envelope = item.envelope
    found: dict[str, str | int] = {
        "messaging.system": SYSTEM,
        "messaging.operation": "process",
        "messaging.operation.type": "process",
        "messaging.message.id": envelope.id,
        "messaging.message.conversation_id": envelope.correlationid,
    }
    if item.delivery is not None:
        info = item.delivery.delivery_info or {}
        found["messaging.destination.name"] = str(info.get("exchange", ""))
        found["messaging.rabbitmq.destination.routing_key"] = str(info.get("routing_key", ""))
    else:
        found["orderflow.origin"] = item.origin
        found["orderflow.retries"] = item.retries
    order_id = envelope.data.get("order_id")
    if isinstance(order_id, str):
        found["orderflow.order.id"] = order_id
    return found
