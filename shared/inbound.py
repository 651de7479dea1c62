"""What the worker's loop holds: a message to handle, and a message to park with its reason."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from kombu.message import Message as Delivery

from shared.binary_mode import is_binary
from shared.contracts import Message, contract_for
from shared.envelope import (
    CONTENT_TYPE,
    CONTENT_TYPE_FIELD,
    Envelope,
    InvalidMessage,
    content_type_problem,
    open_payload,
)
from shared.event_batches import Line
from shared.messaging import Outgoing
from shared.service import Service
from shared.topology import Topology

SENT_PROPERTIES = (
    "message_id",
    "correlation_id",
    "content_type",
    "content_encoding",
    "reply_to",
    "timestamp",
    "type",
    "app_id",
)
"""The AMQP properties a parked copy keeps as its publisher set them. Not ``expiration`` (the
copy would expire in the parking lot) nor ``user_id`` (the broker refuses another user's)."""

PARKING_HEADERS = frozenset(
    "x-orderflow-" + name
    for name in (
        "parked-id",
        "reason",
        "kind",
        "exception",
        "worker",
        "origin",
        "exchange",
        "routing-key",
        "attempts",
        "parked-at",
        "user-id",
    )
)
"""The headers the runtime adds to a parked copy, next to the publisher's own."""


class ParkKind(StrEnum):
    """Why a message was parked, as its ``x-orderflow-kind`` header says (stored values: a
    parking lot written by an older version reads the same)."""

    MALFORMED = "malformed"
    """Not an envelope at all, or too large to read."""
    INVALID = "invalid"
    """A payload (or content type) its contract refuses, with no invalid-message handler."""
    UNKNOWN_TYPE = "unknown_type"
    """A type this worker has no handler for."""
    HANDLER_ERROR = "handler_error"
    """The handler raised a permanent error."""
    RETRIES_EXHAUSTED = "retries_exhausted"
    """A transient error that outlasted every try (or the broker's delivery limit)."""
    FORGED = "forged"
    """Its ``user_id`` names no broker user allowed to send its type (``shared.brokers``)."""


class UnknownType(InvalidMessage):
    """A message type the worker has no handler for."""


def admit(
    service: Service, envelope: Envelope, content_type: str | None, **context: Any
) -> Inbound:
    """``envelope``, sent as ``content_type``, as ``service``'s worker takes it: its payload
    opened, or its problems (the content type's and the payload's, each by field) kept for the
    service's invalid-message handler. Raises ``UnknownType`` or ``InvalidMessage`` for what the
    worker parks instead (``context`` goes into the ``Inbound``)."""
    contract = contract_for(envelope.type)
    if contract is None or contract not in service.handlers:
        raise UnknownType(f"{service.name} has no handler for message type {envelope.type!r}")
    wrong_type = content_type_problem(content_type)
    try:
        message = open_payload(envelope)
    except InvalidMessage as problem:
        invalid = problem if wrong_type is None else _also_wrong_type(problem, wrong_type)
    else:
        if wrong_type is None:
            return Inbound(envelope, message=message, **context)
        reason = f"{CONTENT_TYPE_FIELD}: {wrong_type}"
        invalid = InvalidMessage(reason, envelope, [(CONTENT_TYPE_FIELD, wrong_type)])
    if contract in service.invalid_handlers:
        return Inbound(envelope, problem=invalid, **context)
    raise invalid


def _also_wrong_type(problem: InvalidMessage, wrong_type: str) -> InvalidMessage:
    reason = f"{CONTENT_TYPE_FIELD}: {wrong_type}; {problem.reason}"
    problems = [(CONTENT_TYPE_FIELD, wrong_type), *problem.problems]
    return InvalidMessage(reason, problem.envelope, problems)


@dataclass(frozen=True, eq=False)
class Inbound:
    """A message to handle: from the queue (with its delivery) or from a due timer row.

    ``retries`` and ``attempts`` count the delayed tries it had and how often it was tried in
    all; ``origin`` is the route it first came by, for the parking lot.
    """

    envelope: Envelope
    message: Message | None = None
    problem: InvalidMessage | None = None
    delivery: Delivery | None = None
    forward: bool = False
    retries: int = 0
    attempts: int = 0
    origin: str = ""
    since: datetime | None = None
    """A timer's due time: its critical time runs from there, not from its envelope's time."""
    line: Line | None = None
    """Its line, when it came in a batch (``shared.event_batches``) with others."""

    @property
    def body(self) -> bytes:
        if self.line is not None:
            return self.line.body
        return body_of(self.delivery) if self.delivery else self.envelope.encode()

    @property
    def waits_as_it_came(self) -> bool:
        """Whether the timer table, which keeps only the envelope, can hold it for a delayed
        try: not a delivery sent with a wrong content type, which would come back as if sent
        right (a CloudEvents binary-mode delivery comes back as the envelope it carries)."""
        if self.delivery is None or self.line is not None:
            return True
        if is_binary(self.delivery.content_type, self.delivery.headers):
            return True
        return content_type_problem(self.delivery.content_type) is None

    @property
    def sent(self) -> Sent:
        if self.delivery is None:
            return Sent.of_envelope(self.envelope)
        sent = Sent.of(self.delivery, self.line)
        if self.line is None:
            return sent
        ids = {"message_id": self.envelope.id, "correlation_id": self.envelope.correlationid}
        return replace(sent, properties={**sent.properties, **ids})


@dataclass(frozen=True)
class Sent:
    """How a message came: its publisher's AMQP properties (``SENT_PROPERTIES``, those set) and
    headers, and the exchange and routing key it was published to. A parked copy keeps them,
    so its sender can tell which of its messages it is, and a replay sends it as it was."""

    properties: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, Any] = field(default_factory=dict)
    exchange: str = ""
    routing_key: str = ""
    user_id: str = ""
    """The broker user that published it (RabbitMQ checked it); the copy says it in a header."""

    @classmethod
    def of(cls, delivery: Delivery, line: Line | None = None) -> Sent:
        """How ``delivery`` came, or its ``line`` of a batch: as that event alone would (its
        body sent as every envelope is, with its own trace headers), on the batch's route."""
        given = {
            **(delivery.properties or {}),
            "content_type": delivery.content_type,
            "content_encoding": delivery.content_encoding,
        }
        headers = dict(delivery.headers or {})
        user_id = str(given.get("user_id") or "")
        if line is not None:
            given = {"content_type": CONTENT_TYPE, "content_encoding": "utf-8"}
            headers = dict(line.headers)
        info = delivery.delivery_info or {}
        return cls(
            properties={p: given[p] for p in SENT_PROPERTIES if given.get(p) not in (None, "")},
            headers=headers,
            exchange=str(info.get("exchange", "")),
            routing_key=str(info.get("routing_key", "")),
            user_id=user_id,
        )

    @classmethod
    def of_envelope(cls, envelope: Envelope) -> Sent:
        """A message from the worker's own timer table (a timer, a delayed try): it has only
        its envelope, sent as every envelope is, and its trace context."""
        return cls(
            properties={
                "message_id": envelope.id,
                "correlation_id": envelope.correlationid,
                "content_type": CONTENT_TYPE,
                "content_encoding": "utf-8",
            },
            headers=dict(envelope.trace or {}),
        )


@dataclass(frozen=True)
class Parked:
    body: bytes
    reason: str
    kind: ParkKind
    origin: str
    exception: str = ""
    attempts: int = 1
    sent: Sent = field(default_factory=Sent)

    @classmethod
    def delivery(
        cls, delivery: Delivery, reason: str, kind: ParkKind, line: Line | None = None
    ) -> Parked:
        """``delivery`` parked, or only its ``line`` of a batch (as that event alone)."""
        body = body_of(delivery) if line is None else line.body
        return cls(body, reason, kind, origin_of(delivery), sent=Sent.of(delivery, line))

    def outgoing(self, topology: Topology, worker: str, number: int, now: datetime) -> Outgoing:
        """The copy for ``worker``'s parking-lot queue: the body, properties and headers as
        they were sent, the route it came by, and the reason in headers of the runtime's own;
        ``x-orderflow-parked-id`` tells two parkings of one message apart."""
        properties = dict(self.sent.properties)
        return Outgoing(
            body=self.body,
            exchange=topology.parking,
            routing_key=worker,
            message_id=str(properties.pop("message_id", "")),
            correlation_id=str(properties.pop("correlation_id", "")),
            content_type=properties.pop("content_type", None),
            content_encoding=properties.pop("content_encoding", None),
            properties=properties,
            headers={
                **self.sent.headers,
                "x-orderflow-parked-id": f"parked-{number}-{time.time_ns()}",
                "x-orderflow-reason": self.reason[:2000],
                "x-orderflow-kind": self.kind.value,
                "x-orderflow-exception": self.exception,
                "x-orderflow-worker": worker,
                "x-orderflow-origin": self.origin,
                "x-orderflow-exchange": self.sent.exchange,
                "x-orderflow-routing-key": self.sent.routing_key,
                "x-orderflow-attempts": self.attempts,
                "x-orderflow-parked-at": now.isoformat(),
                "x-orderflow-user-id": self.sent.user_id,
            },
        )


def origin_of(delivery: Delivery) -> str:
    """The route a delivery came by: ``<exchange>/<routing key>``."""
    info = delivery.delivery_info or {}
    return f"{info.get('exchange', '')}/{info.get('routing_key', '')}"


def body_of(delivery: Delivery) -> bytes:
    """The body as sent (py-amqp hands back text when a content encoding was given)."""
    body = delivery.body
    return body.encode() if isinstance(body, str) else bytes(body)
