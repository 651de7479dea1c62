"""What the worker's loop holds: a message to handle, and a message to park with its reason."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kombu.message import Message as Delivery

from shared.contracts import Message, contract_for
from shared.envelope import Envelope, InvalidMessage, open_payload
from shared.handlers import Service
from shared.messaging import Outgoing
from shared.topology import Topology


class UnknownType(InvalidMessage):
    """A message type the worker has no handler for."""


def admit(service: Service, envelope: Envelope, **context: Any) -> Inbound:
    """``envelope`` as ``service``'s worker takes it: its payload opened, or its problem kept
    for the service's invalid-message handler. Raises ``UnknownType`` or ``InvalidMessage``
    for what the worker parks instead (``context`` goes into the ``Inbound``)."""
    contract = contract_for(envelope.type)
    if contract is None or contract not in service.handlers:
        raise UnknownType(f"{service.name} has no handler for message type {envelope.type!r}")
    try:
        return Inbound(envelope, message=open_payload(envelope), **context)
    except InvalidMessage as problem:
        if contract in service.invalid_handlers:
            return Inbound(envelope, problem=problem, **context)
        raise


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

    @property
    def body(self) -> bytes:
        return body_of(self.delivery) if self.delivery else self.envelope.encode()


@dataclass(frozen=True)
class Parked:
    body: bytes
    reason: str
    kind: str
    origin: str
    exception: str = ""
    attempts: int = 1

    @classmethod
    def delivery(cls, delivery: Delivery, reason: str, kind: str) -> Parked:
        return cls(body_of(delivery), reason, kind, origin_of(delivery))

    def outgoing(self, topology: Topology, worker: str, number: int, now: datetime) -> Outgoing:
        """The message for ``worker``'s parking-lot queue, the reason in its headers."""
        return Outgoing(
            body=self.body,
            exchange=topology.parking,
            routing_key=worker,
            message_id=f"parked-{number}-{time.time_ns()}",
            headers={
                "x-orderflow-reason": self.reason[:2000],
                "x-orderflow-kind": self.kind,
                "x-orderflow-exception": self.exception,
                "x-orderflow-worker": worker,
                "x-orderflow-origin": self.origin,
                "x-orderflow-attempts": self.attempts,
                "x-orderflow-parked-at": now.isoformat(),
            },
            content_type="application/octet-stream",
        )


def origin_of(delivery: Delivery) -> str:
    """The route a delivery came by: ``<exchange>/<routing key>``."""
    info = delivery.delivery_info or {}
    return f"{info.get('exchange', '')}/{info.get('routing_key', '')}"


def body_of(delivery: Delivery) -> bytes:
    """The body as sent (py-amqp hands back text when a content encoding was given)."""
    body = delivery.body
    return body.encode() if isinstance(body, str) else bytes(body)
