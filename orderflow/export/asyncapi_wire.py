"""The envelope as it travels, for the published contract: the AMQP properties and headers around
the JSON body, read off the wire rather than written down.

Each message type is published once through a worker's own ``Publisher`` on kombu's in-memory
transport, and what arrives (the content type and encoding, every AMQP basic property, every
header) is what the AsyncAPI document describes. So a property or header the runtime starts or
stops setting changes the generated contract, and the contract test asks for it to be exported
again. The meanings are kept here; a test fails when something on the wire has none.

Inbound, a sender may also use CloudEvents binary mode (``shared.binary_mode``): the attribute
headers it carries are described from that module's own lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kombu import Connection, Queue

from shared import binary_mode
from shared.contracts import Channel, Message
from shared.crash import CrashPoints
from shared.envelope import Envelope
from shared.messaging import BrokerLink
from shared.publisher import Publisher
from shared.topology import Topology

BASIC_PROPERTIES = (
    "content_type",
    "content_encoding",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
)
"""AMQP 0-9-1's basic properties but ``headers`` (described on their own) and the deprecated
``cluster_id``."""

PROPERTIES = {
    "content_type": "The body's media type: a CloudEvents envelope in structured mode.",
    "content_encoding": "The body's character encoding.",
    "delivery_mode": "2: persistent, written to disk by the broker (with quorum queues, "
    "replicated).",
    "message_id": "The envelope's `id`: the key receivers deduplicate on, so a message sent "
    "again keeps it.",
    "correlation_id": "The envelope's `correlationid`: the order's saga.",
    "timestamp": "When the message was published, in seconds since the epoch.",
    "type": "The envelope's `type`, which is also the routing key.",
    "user_id": "The broker user that published it; RabbitMQ refuses a message whose user_id is "
    "not the connection's user.",
    "app_id": "The worker that published it.",
}
"""What each AMQP property orderflow sets means (a test keeps every property sent described)."""

HEADERS = {
    "BCC": "RabbitMQ's sender-selected distribution: the further routing key "
    "`channel.<channel>.<type>` of the order's channel, for that channel's queue. The broker "
    "removes the header before delivery, so no consumer sees it.",
    "traceparent": "W3C Trace Context (version 00): the order's trace, and as parent the span "
    "that handled the message's cause, so one order is one trace across every worker. Every "
    "message carries one; one that came without starts a new trace (docs/tracing.md).",
    "tracestate": "W3C Trace Context: vendor-specific trace state, passed on as it came, when "
    "the trace has one.",
}
"""What each AMQP header orderflow sets means (a test keeps every header sent described)."""

HEADER_VALUES = {
    "time": "RFC 3339 text, an AMQP timestamp, or an integer of milliseconds since the epoch.",
    "schemaversion": "An integer, or its text; 1 when left out.",
}
"""How a binary-mode attribute's header value may be written, where it differs from the
envelope field's JSON (strings in the canonical form are always accepted)."""


def attribute_schema(name: str) -> dict[str, Any]:
    """A binary-mode attribute header's value as a JSON Schema: the envelope field's own, with
    the forms a header may take besides."""
    field = dict(Envelope.model_json_schema()["properties"][name])
    field.pop("title", None)
    field.pop("default", None)
    if name == "time":
        field = {
            "description": field["description"] + " " + HEADER_VALUES[name],
            "oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}],
        }
    elif name == "schemaversion":
        field["type"] = ["integer", "string"]
        field["description"] += " " + HEADER_VALUES[name]
    elif name == "causationid":
        field = {"type": "string", "description": field["description"]}
    return field


@dataclass(frozen=True)
class Wire:
    """What one message type carries on the wire besides its body, as the runtime sends it."""

    properties: dict[str, Any]
    headers: tuple[str, ...]


def sent(contracts: Iterable[type[Message]]) -> dict[str, Wire]:
    """Each contract's properties and header names, as a worker publishes it: each type once,
    through ``Publisher``, on the in-memory transport (its data names a sales channel, so the
    headers of a channel's events are among them; it signs as a worker does)."""
    namespace = f"contract-{uuid.uuid4().hex}"
    topology = Topology(namespace, quorum=False, delivery_limit=1)
    probe = Queue(f"{namespace}.probe", exchange=topology.events, routing_key="#")
    commands = Queue(f"{namespace}.commands", exchange=topology.commands, routing_key="#")
    link = BrokerLink("memory://")
    found: dict[str, Wire] = {}
    try:
        link.connect()
        link.declare([topology.events, topology.commands, probe, commands])
        publisher = Publisher(
            "contract", link, topology, CrashPoints(None), user_id="orderflow-intake"
        )
        publisher.send([_sample(contract) for contract in contracts])  # the relay's way
        link.confirm()
        with Connection("memory://") as connection:
            for queue in (probe, commands):
                reader = connection.SimpleQueue(queue)
                while True:
                    try:
                        delivery = reader.get_nowait()
                    except reader.Empty:
                        break
                    found[delivery.delivery_info["routing_key"]] = wire_of(delivery)
                    delivery.ack()
                reader.queue(connection.default_channel).delete()
                reader.close()
    finally:
        link.close()
    return found


SAMPLE_TRACE = {
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "tracestate": "vendor=value",
}
"""A sample's trace context: one with a ``tracestate``, so that both its headers are described."""


def _sample(contract: type[Message]) -> Envelope:
    envelope = Envelope.model_construct(
        id="m-1",
        type=contract.type,
        source="contract",
        subject="ord_1",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        correlationid="web:WEB-1",
        causationid=None,
        schemaversion=contract.schema_version,
        specversion="1.0",
        datacontenttype="application/json",
        data={"channel": str(next(iter(Channel)))},
    )
    return envelope.travels_with(SAMPLE_TRACE)


def wire_of(delivery: Any) -> Wire:
    """What a delivery carries besides its body: its AMQP properties, set, and its header names."""
    given = {
        **(delivery.properties or {}),
        "content_type": delivery.content_type,
        "content_encoding": delivery.content_encoding,
    }
    properties = {
        name: given[name]
        for name in BASIC_PROPERTIES
        if given.get(name) not in (None, "") and not (name == "priority" and given[name] == 0)
    }  # kombu's in-memory transport fills in priority 0, AMQP's "none"
    return Wire(properties, tuple(sorted(delivery.headers or {})))


def undescribed(wires: Iterable[Wire]) -> list[str]:
    """Properties and headers on the wire that have no meaning here (a test keeps it empty)."""
    missing = set()
    for wire in wires:
        missing |= {p for p in wire.properties if p not in PROPERTIES}
        missing |= {h for h in wire.headers if h not in HEADERS}
    return sorted(missing)


def amqp_properties(wire: Wire, message_id_value: str, correlation_value: str) -> dict[str, Any]:
    """The AMQP properties of a message as the document's ``x-amqp-properties``: each one's
    meaning, and its value where it is fixed or where in the envelope it comes from."""
    derived = {"message_id": message_id_value, "correlation_id": correlation_value}
    found = {}
    for name, value in wire.properties.items():
        entry: dict[str, Any] = {"description": PROPERTIES.get(name, "")}
        if name in derived:
            entry["location"] = derived[name]
        else:
            entry["const"] = value
        found[name] = entry
    return found


def headers_schema(wire: Wire) -> dict[str, Any]:
    """The AMQP headers a message carries as the runtime sends it, as a JSON Schema."""
    return {
        "type": "object",
        "properties": {name: _header_schema(name) for name in wire.headers},
    }


def _header_schema(name: str) -> dict[str, Any]:
    if name == "BCC":
        return {
            "type": "array",
            "items": {"type": "string", "pattern": r"^channel\.[a-z0-9_-]+\."},
            "description": HEADERS[name],
        }
    if name == "traceparent":
        return {
            "type": "string",
            "pattern": r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": HEADERS[name],
        }
    return {"type": "string", "description": HEADERS.get(name, "")}


def binary_headers() -> dict[str, Any]:
    """The headers of a message in CloudEvents binary mode, as a JSON Schema: every attribute
    ``shared.binary_mode`` requires, under any one of the prefixes it accepts."""
    spellings = [
        {
            "title": f"attributes as {prefix}<attribute>",
            "type": "object",
            "properties": {
                prefix + name: attribute_schema(name)
                for name in (*binary_mode.REQUIRED, *binary_mode.OPTIONAL)
            },
            "required": [prefix + name for name in binary_mode.REQUIRED],
        }
        for prefix in binary_mode.PREFIXES
    ]
    return {
        "type": "object",
        "description": "CloudEvents binary mode: each attribute of the envelope but `data` and "
        "`datacontenttype` in a header of its own, under one of the prefixes "
        + ", ".join(f"`{prefix}`" for prefix in binary_mode.PREFIXES)
        + " (in any letter case). A message missing a required attribute is parked, the "
        "reason naming it.",
        "anyOf": spellings,
    }
