"""Event batches: the business events a worker announces in one go, again as one message per type.

A reader that hears many events per order and answers none (reporting: seven an order) pays for
every delivery: the broker's enqueue, and in its own process the frames received and the message
decoded before any of its code runs. So every event of a ``BATCHED`` type is also published, with
the others of its type from the same publish, on the batched-events exchange (``shared.topology``)
under its type as routing key; a reader's queue binds that exchange for the types it hears
(``Service.batched``), and gets a few deliveries an order instead of seven.

A batch is the events' own bodies, one per line (JSON has no raw newline), content type
``application/x-ndjson``, with ``x-orderflow-batch`` counting the lines and each line's trace
context in ``x-orderflow-traceparents`` and ``x-orderflow-tracestates`` ("" for none). A line
parked or replayed travels on its own as the event it is, and the reader takes that too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.contracts import (
    FulfillmentPacked,
    Message,
    OrderApproved,
    OrderCancelled,
    OrderCompleted,
    OrderHeld,
    OrderPlaced,
    OrderRejected,
    PaymentCaptured,
    PaymentExpired,
    PaymentRefunded,
    ReplacementRequested,
    ReturnAuthorized,
    ReturnReceived,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentReturned,
    StockBackordered,
    StockReserved,
)
from shared.envelope import Envelope, InvalidMessage
from shared.messaging import Outgoing
from shared.topology import Topology

BATCHED: frozenset[type[Message]] = frozenset(
    {
        OrderPlaced,
        OrderRejected,
        OrderHeld,
        OrderApproved,
        OrderCancelled,
        OrderCompleted,
        ReplacementRequested,
        StockBackordered,
        StockReserved,
        PaymentCaptured,
        PaymentExpired,
        PaymentRefunded,
        FulfillmentPacked,
        ShipmentDispatched,
        ShipmentDelivered,
        ShipmentDeliveryFailed,
        ShipmentReturned,
        ReturnAuthorized,
        ReturnReceived,
    }
)
"""The events published in batches too: what the business's record is made of (who placed,
paid, received and returned what, when). A batched reader may hear only these."""

BATCHED_TYPES = frozenset(contract.type for contract in BATCHED)

MOST_LINES = 100
"""A larger group is sent as several batches (a sweep republishes up to 500 rows at once)."""

CONTENT_TYPE = "application/x-ndjson"
COUNT = "x-orderflow-batch"
TRACEPARENTS = "x-orderflow-traceparents"
TRACESTATES = "x-orderflow-tracestates"


def batches(
    topology: Topology, envelopes: Sequence[Envelope], properties: Mapping[str, Any]
) -> list[Outgoing]:
    """The batches of ``envelopes``' ``BATCHED`` events: one per type, in order of first
    appearance; ``properties`` (the publisher's ``user_id``) go on each."""
    by_type: dict[str, list[Envelope]] = {}
    for envelope in envelopes:
        if envelope.type in BATCHED_TYPES:
            by_type.setdefault(envelope.type, []).append(envelope)
    return [
        _batch(topology, type_, group[start : start + MOST_LINES], properties)
        for type_, group in by_type.items()
        for start in range(0, len(group), MOST_LINES)
    ]


def _batch(
    topology: Topology, type_: str, group: list[Envelope], properties: Mapping[str, Any]
) -> Outgoing:
    traces = [e.trace or {} for e in group]
    return Outgoing(
        body=b"\n".join(e.body for e in group),
        exchange=topology.batched,
        routing_key=type_,
        message_id=f"batch-{group[0].id}-{len(group)}",
        headers={
            COUNT: len(group),
            TRACEPARENTS: [t.get("traceparent", "") for t in traces],
            TRACESTATES: [t.get("tracestate", "") for t in traces],
        },
        content_type=CONTENT_TYPE,
        properties=dict(properties),
    )


@dataclass(frozen=True)
class Line:
    """One event of a batch, as sent, and the trace headers it travels with."""

    body: bytes
    headers: dict[str, str]


def is_batch(content_type: str | None, headers: Mapping[str, Any] | None) -> bool:
    return (content_type or "").strip().lower() == CONTENT_TYPE and COUNT in (headers or {})


def lines(body: bytes, headers: Mapping[str, Any]) -> list[Line]:
    """A batch's events, or ``InvalidMessage`` if the count or the trace lists do not match
    its lines."""
    found = body.split(b"\n")
    count = headers.get(COUNT)
    if count != len(found):
        raise InvalidMessage(f"{COUNT}: says {count!r} events, the body has {len(found)} lines")
    parents = _listed(headers, TRACEPARENTS, len(found))
    states = _listed(headers, TRACESTATES, len(found))
    return [Line(b, _trace(p, s)) for b, p, s in zip(found, parents, states, strict=True)]


def _listed(headers: Mapping[str, Any], name: str, count: int) -> list[str]:
    listed = headers.get(name)
    if listed is None:
        return [""] * count
    if not isinstance(listed, list | tuple) or len(listed) != count:
        raise InvalidMessage(f"{name}: not a list of {count} trace headers, one per line")
    return [str(item) if item else "" for item in listed]


def _trace(parent: str, state: str) -> dict[str, str]:
    """A line's trace headers, as a single event's would be (``shared.tracing.carried``)."""
    if not parent:
        return {}
    return {"traceparent": parent, "tracestate": state} if state else {"traceparent": parent}
