"""The kombu edge: one connection per worker, a consumer that buffers deliveries and a
publisher that confirms a whole batch with one wait.

On RabbitMQ the publishing channel is in confirm mode; ``publish_confirmed`` sends every message
first and then waits once for the broker's acks, instead of a round trip per message. ``send``
does not wait at all: the acks are read with whatever else arrives on the connection, and
``confirmed_through`` tells how far they have come (the relay's way, see ``shared.relay``). On
kombu's in-memory transport a publish is already synchronous: it is confirmed when sent.

Every failure of the connection or of a channel (a broker restart, a reset socket, missed
heartbeats, a channel the broker closed, a call the broker leaves unanswered for
``RPC_TIMEOUT`` seconds) is raised as ``LinkDown``: the link is then ``reset`` and opened again,
and the deliveries it held are the broker's to hand out again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Consumer, Exchange, Queue
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.message import Message as Delivery

from shared.declaring import declare

READ_ONLY_WHAT_IS_THERE = 0.0001
"""Seconds a read for frames already received waits (0 itself would raise on an empty socket)."""

RPC_TIMEOUT = 10.0
"""Seconds to wait for the broker's answer to a call, or to write to it, before giving the link
up (on a half-open TCP connection nothing ever comes back)."""


class PublishNotConfirmed(Exception):
    """The broker nacked a publish or did not confirm it in time."""


class LinkDown(Exception):
    """The broker connection or one of its channels failed: reset the link and open it again."""


@dataclass(frozen=True)
class Outgoing:
    body: bytes
    exchange: Exchange
    routing_key: str
    message_id: str
    correlation_id: str = ""
    headers: dict[str, Any] = field(default_factory=dict)
    content_type: str | None = "application/cloudevents+json"
    content_encoding: str | None = "utf-8"
    properties: dict[str, Any] = field(default_factory=dict)
    """Further AMQP properties (``reply_to``, ``timestamp``, ``type``, ``app_id``)."""


class BrokerLink:
    def __init__(self, url: str, *, heartbeat: int = 30, confirm_timeout: float = 30.0) -> None:
        self.url = url
        self.heartbeat_seconds = heartbeat if url.startswith("amqp") else 0
        self.confirm_timeout = confirm_timeout
        self.buffer: list[Delivery] = []
        self.connection = self._new_connection()
        self._consumer: Consumer | None = None
        self._publish_channel: Any = None
        self._confirms = _Confirms()
        self.epoch = 0
        """Counts the connections: a publish of an earlier one is confirmed never."""

    def _new_connection(self) -> Connection:
        if not self.url.startswith("amqp"):
            return Connection(self.url)
        timeouts = {"read_timeout": RPC_TIMEOUT, "write_timeout": RPC_TIMEOUT}
        return Connection(self.url, heartbeat=self.heartbeat_seconds, transport_options=timeouts)

    @property
    def is_amqp(self) -> bool:
        return bool(self.connection.transport.driver_type == "amqp")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        errors = (
            *self.connection.connection_errors,
            *self.connection.channel_errors,
            KombuOperationalError,
        )
        try:
            yield
        except errors as error:
            raise LinkDown(f"{type(error).__name__}: {error}") from error

    def connect(self, retries: int = 3) -> None:
        with self._guard():
            self.connection.ensure_connection(max_retries=retries)
            self._publish_channel = self.connection.channel()
            if self.is_amqp:
                self._skip_blocked_check_per_publish()
                self._publish_channel.confirm_select()
                self._publish_channel.events["basic_ack"].add(self._confirms.on_ack)
                self._publish_channel.events["basic_nack"].add(self._confirms.on_nack)

    def reset(self) -> None:
        """Drop the connection (no closing handshake: it may be dead) and what came through
        it; ``connect`` opens a new one."""
        self.buffer.clear()
        with suppress(Exception):
            self.connection.collect()
        self.connection = self._new_connection()
        self._consumer = self._publish_channel = None
        self._confirms = _Confirms()
        self.epoch += 1

    def _skip_blocked_check_per_publish(self) -> None:
        """py-amqp reads the socket before every publish to notice ``connection.blocked`` early,
        which costs as much CPU as the publish itself. The broker still sends the notice and the
        worker still reads it (it drains between batches); TCP back-pressure and the confirm
        timeout bound a blocked publisher either way.
        """
        capabilities = self.connection.connection.client_properties.get("capabilities", {})
        capabilities["connection.blocked"] = False

    def declare(self, entities: Sequence[Exchange | Queue]) -> None:
        with self._guard():
            declare(self, self.connection.default_channel, entities)

    def consume(self, queue: Queue, prefetch: int) -> None:
        with self._guard():
            self._consumer = Consumer(  # declared already, by ``declare``
                self.connection.channel(),
                queues=[queue],
                on_message=self.buffer.append,
                auto_declare=False,
            )
            self._consumer.qos(prefetch_count=prefetch)
            self._consumer.consume()

    def stop_consuming(self, timeout: float = RPC_TIMEOUT) -> None:
        """Cancel the consumer: the broker sends nothing more, and what it sent before it
        confirmed the cancel is in the buffer. ``LinkDown`` if it does not within ``timeout``."""
        if self._consumer is None:
            return
        with self._guard():
            if self.is_amqp:
                with self.connection.connection.transport.having_timeout(timeout):
                    self._consumer.cancel()
            else:
                self._consumer.cancel()
        self._consumer = None

    def fill(self, limit: int, wait: float) -> int:
        """Wait up to ``wait`` seconds for a first delivery, then take what is already there."""
        with self._guard():
            if not self.buffer:
                self._drain(wait)
            while self.buffer and len(self.buffer) < limit and self._drain(0.0005):
                pass
        return len(self.buffer)

    def take(self, limit: int) -> list[Delivery]:
        taken, self.buffer[:] = self.buffer[:limit], self.buffer[limit:]
        return taken

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        with self._guard():
            if self.is_amqp:
                last = max(d.delivery_tag for d in deliveries)
                deliveries[0].channel.basic_ack(last, multiple=True)
            else:
                for delivery in deliveries:
                    delivery.ack()

    def publish_confirmed(self, messages: Sequence[Outgoing]) -> None:
        self.send(messages)
        self.confirm()

    def send(self, messages: Sequence[Outgoing]) -> int:
        """Publish ``messages`` without waiting for the broker's confirms (see ``confirm``);
        returns the publish number of the last, which ``confirmed_through`` reaches once the
        broker has confirmed them all."""
        if not messages:
            return self._confirms.published
        if self._publish_channel is None:
            raise LinkDown("not connected")
        channel = self._publish_channel
        self._confirms.expect(len(messages), awaited=self.is_amqp)
        with self._guard():
            for message in messages:
                prepared = channel.prepare_message(
                    message.body,
                    0,
                    message.content_type,
                    message.content_encoding,
                    message.headers or None,
                    _properties(message),
                )
                channel.basic_publish(
                    prepared, exchange=message.exchange.name, routing_key=message.routing_key
                )
        return self._confirms.published

    def confirmed_through(self) -> int:
        """Every publish on this connection up to this number is confirmed (none nacked: see
        ``take_nack``). Reads the acks already on the wire, without waiting for more."""
        if self._confirms.pending:
            with self._guard():
                for _ in range(len(self._confirms.pending)):
                    if not self._confirms.pending or not self._drain(READ_ONLY_WHAT_IS_THERE):
                        break
        return self._confirms.through()

    def take_nack(self) -> bool:
        """Whether the broker nacked a publish since the last call."""
        nacked, self._confirms.nacked = self._confirms.nacked, False
        return nacked

    def confirm(self) -> None:
        """Wait for the broker to confirm everything sent (at once on memory://)."""
        if self.is_amqp:
            with self._guard():
                self._await_confirms()

    def _await_confirms(self) -> None:
        deadline = time.monotonic() + self.confirm_timeout
        while self._confirms.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishNotConfirmed(f"{len(self._confirms.pending)} publishes unconfirmed")
            self._drain(min(remaining, 1.0))
        if self._confirms.nacked:
            self._confirms.nacked = False
            raise PublishNotConfirmed("the broker nacked a publish")

    def _drain(self, timeout: float) -> bool:
        try:
            self.connection.drain_events(timeout=timeout)
        except TimeoutError:
            return False
        return True

    def heartbeat(self) -> None:
        """Send a heartbeat when one is due; ``LinkDown`` if the broker's stopped coming."""
        if self.is_amqp:
            with self._guard():
                self.connection.heartbeat_check()

    def close(self) -> None:
        """Close the connection; on a dead one there is nobody to say goodbye to."""
        with suppress(Exception):
            self.connection.release()


def _properties(message: Outgoing) -> dict[str, Any]:
    """The message's AMQP properties but its content type and encoding, those set."""
    properties: dict[str, Any] = {**message.properties, "delivery_mode": 2}
    if message.message_id:
        properties["message_id"] = message.message_id
    if message.correlation_id:
        properties["correlation_id"] = message.correlation_id
    return properties


class _Confirms:
    """Outstanding publishes of a confirm-mode channel, whose delivery tags count from 1."""

    def __init__(self) -> None:
        self.published = 0
        self.pending: set[int] = set()
        self.nacked = False

    def expect(self, count: int, awaited: bool = True) -> None:
        if awaited:
            self.pending.update(range(self.published + 1, self.published + count + 1))
        self.published += count

    def through(self) -> int:
        return min(self.pending) - 1 if self.pending else self.published

    def on_ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            self.pending = {t for t in self.pending if t > tag}
        else:
            self.pending.discard(tag)

    def on_nack(self, tag: int, multiple: bool) -> None:
        self.nacked = True
        self.on_ack(tag, multiple)
