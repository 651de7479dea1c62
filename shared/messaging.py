"""The kombu edge: one connection per worker, a consumer that buffers deliveries and a
publisher that confirms a whole batch with one wait.

On RabbitMQ the publishing channel is in confirm mode; ``publish_confirmed`` sends every message
first and then waits once for the broker's acks, instead of a round trip per message. On kombu's
in-memory transport a publish is already synchronous.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.message import Message as Delivery


class PublishNotConfirmed(Exception):
    """The broker nacked a publish or did not confirm it in time."""


@dataclass(frozen=True)
class Outgoing:
    body: bytes
    exchange: Exchange
    routing_key: str
    message_id: str
    correlation_id: str = ""
    headers: dict[str, Any] = field(default_factory=dict)
    content_type: str = "application/cloudevents+json"


class BrokerLink:
    def __init__(self, url: str, *, heartbeat: int = 30, confirm_timeout: float = 30.0) -> None:
        self.connection = Connection(url, heartbeat=heartbeat if url.startswith("amqp") else 0)
        self.confirm_timeout = confirm_timeout
        self.buffer: list[Delivery] = []
        self._consumer: Consumer | None = None
        self._publish_channel: Any = None
        self._producer: Producer | None = None
        self._confirms = _Confirms()

    @property
    def is_amqp(self) -> bool:
        return bool(self.connection.transport.driver_type == "amqp")

    def connect(self) -> None:
        self.connection.ensure_connection(max_retries=3)
        self._publish_channel = self.connection.channel()
        if self.is_amqp:
            self._skip_blocked_check_per_publish()
            self._publish_channel.confirm_select()
            self._publish_channel.events["basic_ack"].add(self._confirms.on_ack)
            self._publish_channel.events["basic_nack"].add(self._confirms.on_nack)
        self._producer = Producer(self._publish_channel)

    def _skip_blocked_check_per_publish(self) -> None:
        """py-amqp reads the socket before every publish to notice ``connection.blocked`` early,
        which costs as much CPU as the publish itself. The broker still sends the notice and the
        worker still reads it (it drains between batches); TCP back-pressure and the confirm
        timeout bound a blocked publisher either way.
        """
        capabilities = self.connection.connection.client_properties.get("capabilities", {})
        capabilities["connection.blocked"] = False

    def declare(self, entities: Sequence[Exchange | Queue]) -> None:
        channel = self.connection.default_channel
        for entity in entities:
            entity(channel).declare()

    def consume(self, queue: Queue, prefetch: int) -> None:
        self._consumer = Consumer(
            self.connection.channel(), queues=[queue], on_message=self.buffer.append
        )
        self._consumer.qos(prefetch_count=prefetch)
        self._consumer.consume()

    def fill(self, limit: int, wait: float) -> int:
        """Wait up to ``wait`` seconds for a first delivery, then take what is already there."""
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
        if self.is_amqp:
            last = max(d.delivery_tag for d in deliveries)
            deliveries[0].channel.basic_ack(last, multiple=True)
        else:
            for delivery in deliveries:
                delivery.ack()

    def publish_confirmed(self, messages: Sequence[Outgoing]) -> None:
        assert self._producer is not None, "connect() first"
        if not messages:
            return
        self._confirms.expect(len(messages))
        for message in messages:
            self._producer.publish(
                message.body,
                exchange=message.exchange,
                routing_key=message.routing_key,
                content_type=message.content_type,
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=message.message_id,
                correlation_id=message.correlation_id or None,
                headers=message.headers or None,
            )
        if self.is_amqp:
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
        if self.is_amqp:
            self.connection.heartbeat_check()

    def close(self) -> None:
        self.connection.release()


class _Confirms:
    """Outstanding publishes of a confirm-mode channel, whose delivery tags count from 1."""

    def __init__(self) -> None:
        self.published = 0
        self.pending: set[int] = set()
        self.nacked = False

    def expect(self, count: int) -> None:
        self.pending.update(range(self.published + 1, self.published + count + 1))
        self.published += count

    def on_ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            self.pending = {t for t in self.pending if t > tag}
        else:
            self.pending.discard(tag)

    def on_nack(self, tag: int, multiple: bool) -> None:
        self.nacked = True
        self.on_ack(tag, multiple)
