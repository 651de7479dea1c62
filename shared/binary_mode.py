"""CloudEvents binary content mode: the attributes in AMQP headers, the body only the ``data``.

A sender may put a message on the wire in either of the two CloudEvents content modes; the
content type tells them apart (CloudEvents AMQP protocol binding, section 3): one starting with
``application/cloudevents`` is structured mode (the whole envelope is the JSON body, read by
``shared.envelope.decode``); anything else carrying CloudEvents attributes in its headers is
binary mode, read here into the same ``Envelope``, so a handler never knows the difference.

The attribute headers are accepted under the prefixes the specifications and the CloudEvents
SDKs use on RabbitMQ: ``cloudEvents:`` (the AMQP binding), ``cloudEvents_`` (the AMQP binding's
JMS-safe spelling, which the Python SDK's AMQP binding writes) and ``ce-`` (the RabbitMQ binding
of Knative and the Python SDK's ``rabbitmq`` module), in any letter case. Values come as strings
(the canonical form) or as native AMQP values: a timestamp, or an integer of milliseconds since
the epoch (an AMQP 1.0 timestamp, as the SDK's AMQP binding writes ``time``).

orderflow's own extensions travel as attributes too: ``correlationid``, ``causationid`` and
``schemaversion``. What the envelope requires, a binary message must carry: a missing attribute
is a malformed message, parked with a reason naming the attribute and its headers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shared.envelope import (
    CONTENT_TYPE,
    Envelope,
    InvalidMessage,
    content_type_problem,
    decode,
    describe,
)

PREFIXES = ("cloudEvents:", "cloudEvents_", "ce-")
"""The header prefixes of CloudEvents attributes in binary mode, as senders spell them."""
DATA_CONTENT_TYPE = "application/json"
"""The one content type of a binary-mode body: the ``data``, as JSON."""
REQUIRED = ("specversion", "id", "source", "type", "subject", "time", "correlationid")
"""The attributes a binary-mode message must carry: CloudEvents' own and the envelope's."""
OPTIONAL = ("causationid", "schemaversion")
TRACE_CONTEXT = ("traceparent", "tracestate")
"""The CloudEvents Distributed Tracing extension's attributes (Knative's RabbitMQ binding adds
them): trace context for the tracing, which reads the AMQP headers, not fields of the envelope."""
_PREFIXES = tuple(prefix.lower() for prefix in PREFIXES)


@dataclass(frozen=True)
class Opened:
    """A message off the wire as an envelope, with the content type its checks judge: a
    binary-mode message rebuilt as the envelope it carries is judged as one sent structured."""

    envelope: Envelope
    content_type: str | None
    binary: bool = False


def open_message(
    body: bytes | str, content_type: str | None, headers: Mapping[str, Any] | None, max_bytes: int
) -> Opened:
    """The envelope of a message in either content mode, or ``InvalidMessage`` saying why not."""
    if is_structured(content_type) or not (attributes := attributes_of(headers)):
        return Opened(decode(body, max_bytes), content_type)
    return Opened(from_binary(body, content_type, attributes, max_bytes), CONTENT_TYPE, True)


def is_structured(content_type: str | None) -> bool:
    return (content_type or "").strip().lower().startswith("application/cloudevents")


def is_binary(content_type: str | None, headers: Mapping[str, Any] | None) -> bool:
    return not is_structured(content_type) and bool(attributes_of(headers))


def attributes_of(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The CloudEvents attributes among AMQP headers, by attribute name (other headers, such
    as ``BCC`` or ``traceparent``, are the transport's own and stay out)."""
    found: dict[str, Any] = {}
    for name, value in (headers or {}).items():
        lowered = name.lower()
        for prefix in _PREFIXES:
            if lowered.startswith(prefix) and len(lowered) > len(prefix):
                found[lowered[len(prefix) :]] = value
                break
    return found


def from_binary(
    body: bytes | str, content_type: str | None, attributes: Mapping[str, Any], max_bytes: int
) -> Envelope:
    """The envelope a binary-mode message carries: its attributes, with the body as data."""
    if len(body) > max_bytes:
        raise InvalidMessage(f"body is {len(body)} bytes, over the {max_bytes}-byte limit")
    missing = [name for name in REQUIRED if _blank(attributes.get(name))]
    if missing:
        raise InvalidMessage(
            "CloudEvents binary mode: missing "
            + "; ".join(f"attribute {name} (header {_spellings(name)})" for name in missing)
        )
    problem = content_type_problem(content_type, DATA_CONTENT_TYPE)
    if problem:
        raise InvalidMessage(f"CloudEvents binary mode: datacontenttype: {problem}")
    try:
        data = json.loads(body)
    except ValueError as error:
        raise InvalidMessage(f"CloudEvents binary mode: body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise InvalidMessage("CloudEvents binary mode: body is JSON but not an object")
    fields = {
        name: _value(name, value) for name, value in attributes.items() if name not in TRACE_CONTEXT
    }
    try:
        return Envelope.model_validate({**fields, "data": data})
    except ValidationError as error:
        raise InvalidMessage(
            f"CloudEvents binary mode: bad attributes: {describe(error)}"
        ) from error


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | bytes) and not value.strip())


def _spellings(name: str) -> str:
    return " or ".join(f"{prefix}{name}" for prefix in PREFIXES)


def _value(name: str, value: Any) -> Any:
    """An attribute's header value as the envelope's field takes it."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if name == "time" and isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if name == "time" and isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
