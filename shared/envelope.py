"""The CloudEvents-shaped envelope every message travels in (structured JSON mode).

Decoding is strict and every failure raises ``InvalidMessage`` with a reason a person can act
on; the consumer parks such messages instead of dropping them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.contracts import Message, contract_for

CONTENT_TYPE = "application/cloudevents+json"
CONTENT_TYPE_FIELD = "(content_type)"
"""The field a wrong AMQP content type is reported under (it is no field of the envelope)."""

TraceContext = Mapping[str, str]
"""W3C trace context: ``traceparent`` and, if there is one, ``tracestate`` (``shared.tracing``)."""


def kept_trace(traceparent: str | None, tracestate: str | None) -> TraceContext | None:
    """A trace context as a row keeps it, in two columns, made one to travel again."""
    if not traceparent:
        return None
    return {"traceparent": traceparent, **({"tracestate": tracestate} if tracestate else {})}


_TRACE = "trace_context"


class InvalidMessage(Exception):
    """A message that can never be handled as it is: it goes to the parking lot."""

    def __init__(
        self,
        reason: str,
        envelope: Envelope | None = None,
        problems: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.envelope = envelope
        self.problems = problems or []


class Envelope(BaseModel):
    """The JSON body of every message (CloudEvents 1.0, structured mode), around its ``data``."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    specversion: Literal["1.0"] = Field(default="1.0", description="CloudEvents version.")
    id: str = Field(
        min_length=1,
        max_length=64,
        description="Unique per message, and equal to the AMQP message_id: receivers drop a "
        "second message with an id they have handled, so a retry must reuse the id.",
    )
    type: str = Field(
        min_length=1,
        max_length=100,
        description="The message type, which is also its routing key (e.g. order.submit).",
    )
    source: str = Field(
        min_length=1,
        max_length=100,
        description="Who sent it: a worker's name, or channel.<channel> for a sales channel.",
    )
    subject: str = Field(
        min_length=1,
        max_length=200,
        description="What it is about: the order id, or <channel>:<external_id> in an "
        "order.submit.",
    )
    time: datetime = Field(description="When it was sent: RFC 3339 with a UTC offset.")
    correlationid: str = Field(
        min_length=1,
        max_length=200,
        description="The order's saga: a submit's subject, inherited by every message it causes.",
    )
    causationid: str | None = Field(
        default=None,
        description="The id of the message that caused this one (an answer's is its submit's "
        "id); null in a message nobody caused.",
    )
    schemaversion: int = Field(default=1, description="The version of the data's schema.")
    datacontenttype: Literal["application/json"] = Field(
        default="application/json", description="The media type of data: JSON."
    )
    data: dict[str, Any] = Field(description="The message itself, per its type's schema.")

    @property
    def trace(self) -> TraceContext | None:
        """The trace context it travels with, outside its JSON: in AMQP headers on the wire, in
        columns beside it in the outbox and the timer table (see ``shared.tracing``). It is no
        part of what the message says: kept beside the fields, as ``body`` is, it is neither
        serialized nor compared."""
        trace: TraceContext | None = self.__dict__.get(_TRACE)
        return trace

    def travels_with(self, trace: TraceContext | None) -> Envelope:
        """Set the trace context it travels with; returns it."""
        self.__dict__[_TRACE] = trace
        return self

    @cached_property
    def body(self) -> bytes:
        """The JSON on the wire, serialized once for the outbox row and the publish."""
        return self.model_dump_json().encode()

    def encode(self) -> bytes:
        return self.body


def content_type_problem(content_type: str | None, accepted: str = CONTENT_TYPE) -> str | None:
    """Why a message's AMQP content type is not ``accepted``, or None.

    Messages are CloudEvents in structured mode: ``application/cloudevents+json`` (a binary-mode
    body: ``application/json``), in any case, with parameters allowed; a charset must be UTF-8,
    the only one JSON knows. Anything else, and no content type at all, is refused even when the
    body would parse: a sender that labels its messages wrongly is one whose bytes nobody
    should guess at.
    """
    if not content_type or not content_type.strip():
        return f"the message has no content type; accepted: {accepted}"
    media, *parameters = content_type.split(";")
    if media.strip().lower() != accepted:
        return f"{content_type.strip()} is not accepted; accepted: {accepted}"
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            return f"charset {value.strip()} is not accepted; accepted: utf-8"
    return None


def new_message_id() -> str:
    return uuid.uuid4().hex


def wrap(
    message: Message,
    *,
    source: str,
    cause: Envelope | None = None,
    message_id: str | None = None,
    now: datetime | None = None,
    trace: TraceContext | None = None,
) -> Envelope:
    """Put a message in an envelope; a caused message inherits its cause's saga, and travels
    with ``trace`` (the context its cause was handled in).

    The message was validated when it was built, so the envelope skips a second validation.
    """
    subject = message.subject
    envelope = Envelope.model_construct(
        id=message_id or new_message_id(),
        type=message.type,
        source=source,
        subject=subject,
        time=now or datetime.now(UTC),
        correlationid=cause.correlationid if cause else subject,
        causationid=cause.id if cause else None,
        schemaversion=message.schema_version,
        specversion="1.0",
        datacontenttype="application/json",
        data=message.model_dump(mode="json"),
    )
    return envelope.travels_with(trace)


def decode(body: bytes | str, max_bytes: int) -> Envelope:
    """Bytes from the wire to an envelope, or ``InvalidMessage`` saying what is wrong."""
    if len(body) > max_bytes:
        raise InvalidMessage(f"body is {len(body)} bytes, over the {max_bytes}-byte limit")
    try:
        return Envelope.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "json_invalid":
            raise InvalidMessage(f"body is not JSON: {first['msg']}") from error
        if first["type"] == "model_type":
            raise InvalidMessage("body is JSON but not an object") from error
        raise InvalidMessage(f"bad envelope: {describe(error)}") from error


def open_payload(envelope: Envelope) -> Message:
    """The envelope's data as its contract, or ``InvalidMessage`` naming each bad field."""
    contract = contract_for(envelope.type)
    if contract is None:
        raise InvalidMessage(f"unknown message type {envelope.type!r}", envelope)
    try:
        return contract.model_validate(envelope.data)
    except ValidationError as error:
        reason = f"invalid {envelope.type}: {describe(error)}"
        raise InvalidMessage(reason, envelope, field_problems(error)) from error


def field_problems(error: ValidationError) -> list[tuple[str, str]]:
    """Each problem as (field path, message), e.g. ``("lines[0].quantity", "...")``."""
    return [(field_path(e["loc"]), e["msg"]) for e in error.errors()]


def describe(error: ValidationError) -> str:
    return "; ".join(f"{field}: {message}" for field, message in field_problems(error))


def field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(message)"
