"""A sales channel's client for orderflow, written from its published contract alone.

It follows ``contracts/asyncapi.json`` and needs nothing else from orderflow's repository: it
builds the CloudEvents envelope of an ``order.submit`` itself, publishes it with publisher confirms
(persistent, mandatory, ``message_id`` = the envelope id), and hears the answer (``order.placed``
with the order id, or ``order.rejected`` with every problem) and the order's end
(``order.completed`` or ``order.cancelled``) on the channel's own queue, which it declares and binds
to its channel's routing keys only. It depends on pika alone.

    with ChannelClient("amqp://guest:guest@localhost:5672/%2F", channel="web") as client:
        client.listen()
        sent = client.submit(order)
        answer = client.answer(sent, timeout=30)
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

CONTENT_TYPE = "application/cloudevents+json"
SUBMIT = "order.submit"
ANSWERS = ("order.placed", "order.rejected")
ENDS = ("order.cancelled", "order.completed")


def commands_exchange(namespace: str) -> str:
    return f"{namespace}.commands"


def events_exchange(namespace: str) -> str:
    return f"{namespace}.events"


def channel_queue(namespace: str, channel: str) -> str:
    return f"{namespace}.channel.{channel}"


def channel_binding_key(channel: str) -> str:
    return f"channel.{channel}.#"


def new_trace() -> dict[str, str]:
    """W3C trace context for a new trace (a channel without OpenTelemetry of its own)."""
    return {"traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"}


def submit_envelope(order: Mapping[str, Any], message_id: str | None = None) -> dict[str, Any]:
    """The envelope of an ``order.submit``, field by field as the contract's guide asks."""
    subject = f"{order['channel']}:{order['external_id']}"
    return {
        "specversion": "1.0",
        "id": message_id or uuid.uuid4().hex,
        "type": SUBMIT,
        "source": f"channel.{order['channel']}",
        "subject": subject,
        "time": datetime.now(UTC).isoformat(),
        "correlationid": subject,
        "causationid": None,
        "schemaversion": 1,
        "datacontenttype": "application/json",
        "data": dict(order),
    }


@dataclass(frozen=True)
class Sent:
    """A submit the broker confirmed: what its answer will point back to."""

    message_id: str
    channel: str
    external_id: str


@dataclass(frozen=True)
class Event:
    """An event orderflow announced about one of this channel's orders."""

    envelope: Mapping[str, Any]

    @property
    def type(self) -> str:
        return str(self.envelope["type"])

    @property
    def data(self) -> Mapping[str, Any]:
        return dict(self.envelope["data"])

    @property
    def order_id(self) -> str:
        return str(self.data["order_id"])

    @property
    def placed(self) -> bool:
        return self.type == "order.placed"

    @property
    def rejected(self) -> bool:
        return self.type == "order.rejected"

    @property
    def problems(self) -> list[tuple[str, str]]:
        return [(p["field"], p["message"]) for p in self.data.get("problems", [])]

    def answers(self, sent: Sent) -> bool:
        """Whether this is the answer to ``sent``: caused by it, or (for a correction's answer
        that came first) about the same channel and external id."""
        if self.type not in ANSWERS:
            return False
        if self.envelope.get("causationid") == sent.message_id:
            return True
        return (self.data.get("channel"), self.data.get("external_id")) == (
            sent.channel,
            sent.external_id,
        )


@dataclass
class ChannelClient:
    url: str
    channel: str
    namespace: str = "orderflow"
    received: list[Event] = field(default_factory=list)
    """Every event heard so far, each once (deliveries are at least once)."""

    def __post_init__(self) -> None:
        self._connection: pika.BlockingConnection | None = None
        self._amqp: BlockingChannel | None = None
        self._seen: set[str] = set()
        self._user: str | None = None
        """The broker user it connects as, which it names as ``user_id`` in every submit:
        RabbitMQ refuses another user's name, and orderflow parks a submit without one."""

    @property
    def queue(self) -> str:
        return channel_queue(self.namespace, self.channel)

    def __enter__(self) -> ChannelClient:
        parameters = pika.URLParameters(self.url)
        self._user = getattr(parameters.credentials, "username", None)
        self._connection = pika.BlockingConnection(parameters)
        self._amqp = self._connection.channel()
        self._amqp.confirm_delivery()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            if self._amqp is not None and self._amqp.is_open:
                self._amqp.cancel()
            self._connection.close()
        self._connection = self._amqp = None

    @property
    def amqp(self) -> BlockingChannel:
        if self._amqp is None:
            raise RuntimeError("not connected: use the client in a with block")
        return self._amqp

    def listen(self) -> None:
        """Declare the channel's own queue and bind it to its routing keys. Do it before the
        first submit: an answer is published once, and one no queue takes is lost."""
        self.amqp.queue_declare(self.queue, durable=True, arguments={"x-queue-type": "quorum"})
        self.amqp.queue_bind(
            self.queue, events_exchange(self.namespace), channel_binding_key(self.channel)
        )
        self.amqp.basic_qos(prefetch_count=100)

    def submit(
        self,
        order: Mapping[str, Any],
        message_id: str | None = None,
        trace: Mapping[str, str] | None = None,
    ) -> Sent:
        """Publish an order and return once the broker confirmed it. A retry of the same
        order must pass the same ``message_id``: it is how orderflow recognises a repeat.

        ``trace`` is the W3C trace context (``traceparent``, ``tracestate``) the order's trace
        continues, e.g. what OpenTelemetry's ``inject`` wrote; without it the submit starts a
        new trace. Either way it goes in the AMQP headers, and orderflow's spans join it.

        Raises pika's ``UnroutableError`` when no queue takes it (orderflow is not running)
        and ``NackError`` when the broker refuses it.
        """
        if order.get("channel") != self.channel:
            raise ValueError(f"channel: this client is {self.channel!r}")
        envelope = submit_envelope(order, message_id)
        self.amqp.basic_publish(
            exchange=commands_exchange(self.namespace),
            routing_key=SUBMIT,
            body=json.dumps(envelope).encode(),
            properties=pika.BasicProperties(
                content_type=CONTENT_TYPE,
                content_encoding="utf-8",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=envelope["id"],
                correlation_id=envelope["correlationid"],
                user_id=self._user,
                headers=dict(trace) if trace else new_trace(),
            ),
            mandatory=True,
        )
        return Sent(envelope["id"], self.channel, str(order["external_id"]))

    def answer(self, sent: Sent, timeout: float) -> Event:
        """``order.placed`` or ``order.rejected`` for ``sent``."""
        return self.wait(lambda event: event.answers(sent), timeout, f"the answer to {sent}")

    def end(self, order_id: str, timeout: float) -> Event:
        """``order.completed`` or ``order.cancelled`` for the order."""
        return self.wait(
            lambda event: event.type in ENDS and event.envelope["subject"] == order_id,
            timeout,
            f"the end of {order_id}",
        )

    def wait(self, wanted: Callable[[Event], bool], timeout: float, what: str) -> Event:
        """The first event heard that is ``wanted``, hearing more for up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((event for event in self.received if wanted(event)), None)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {what} within {timeout} s")
            self.hear(min(remaining, 0.5))

    def hear(self, wait: float) -> bool:
        """Take one delivery from the queue, waiting up to ``wait`` s; whether it was new."""
        for method, _properties, body in self.amqp.consume(self.queue, inactivity_timeout=wait):
            if method is None:
                return False
            envelope = json.loads(body)
            new = envelope["id"] not in self._seen
            if new:
                self._seen.add(envelope["id"])
                self.received.append(Event(envelope))
            self.amqp.basic_ack(method.delivery_tag)
            return new
        return False
