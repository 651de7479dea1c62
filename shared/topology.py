"""Every exchange and queue, in one place, derived from the workers' handler tables.

Events travel on a topic exchange, channel commands on another; each worker has one durable
queue bound to the message types its handler table names, and a parking-lot queue. On RabbitMQ
both are quorum queues; a worker queue dead-letters to its parking lot after ``delivery_limit``
deliveries, so a message that crashes its worker cannot loop forever.

The business events go out a second time in batches, one message per type and publish, on a
third topic exchange (``shared.event_batches``): a worker that hears many events per order and
answers none (reporting) binds its queue there instead, and gets a few deliveries an order.

A sales channel hears about its own orders on a queue of its own, bound to the events exchange
with ``channel.<channel>.#``. Intake's events about an order (``CHANNEL_EVENTS``) are published
once, under their type, with a ``BCC`` header naming ``channel.<channel>.<type>`` as a second
routing key (RabbitMQ's sender-selected distribution; the broker removes the header before
delivery). So the broker, not the channel, filters: a channel's queue receives only its own
orders' events, the workers' queues are unchanged, and topic permissions on the events exchange
(read ``^channel\\.<channel>\\.``) can keep a channel from binding another's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kombu import Exchange, Queue, binding

from shared.contracts import Message, OrderCancelled, OrderCompleted, OrderPlaced, OrderRejected

ANSWERS: tuple[type[Message], ...] = (OrderPlaced, OrderRejected)
"""What answers a channel's ``order.submit``: one of these, caused by the submit."""
CHANNEL_EVENTS: tuple[type[Message], ...] = (*ANSWERS, OrderCancelled, OrderCompleted)
"""Intake's events about an order that also go to the queue of the channel that submitted it."""
CHANNEL_PREFIX = "channel"
CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")


@dataclass(frozen=True)
class Topology:
    namespace: str
    quorum: bool
    delivery_limit: int
    publish_batches: bool = True
    """Whether announcements go out in batches too (``shared.event_batches``), for reporting."""

    @classmethod
    def of(cls, settings: Any) -> Topology:
        """The topology ``settings`` (``shared.settings.Settings``) describe."""
        return cls(
            settings.namespace,
            settings.use_quorum_queues,
            settings.delivery_limit,
            settings.publish_event_batches,
        )

    @property
    def events(self) -> Exchange:
        return Exchange(f"{self.namespace}.events", type="topic", durable=True)

    @property
    def commands(self) -> Exchange:
        return Exchange(f"{self.namespace}.commands", type="topic", durable=True)

    @property
    def batched(self) -> Exchange:
        """Where events go again in batches, one type per message (``shared.event_batches``)."""
        return Exchange(f"{self.namespace}.events.batched", type="topic", durable=True)

    @property
    def exchanges(self) -> list[Exchange]:
        return [self.events, self.commands, self.batched, self.parking]

    @property
    def parking(self) -> Exchange:
        return Exchange(f"{self.namespace}.parking", type="direct", durable=True)

    def exchange_for(self, contract: type[Message]) -> Exchange:
        return self.commands if contract.kind == "command" else self.events

    def worker_queue_name(self, worker: str) -> str:
        return f"{self.namespace}.{worker}"

    def parking_queue_name(self, worker: str) -> str:
        return f"{self.namespace}.{worker}.parking"

    def channel_queue_name(self, channel: str) -> str:
        return f"{self.namespace}.{CHANNEL_PREFIX}.{channel}"

    def channel_queue(self, channel: str) -> Queue:
        """The queue a channel declares to hear about its own orders (never a worker's)."""
        return Queue(
            self.channel_queue_name(channel),
            exchange=self.events,
            routing_key=channel_binding_key(channel),
            durable=True,
            queue_arguments={"x-queue-type": "quorum"} if self.quorum else None,
        )

    def worker_queue(
        self, worker: str, contracts: Iterable[type[Message]], batched: bool = False
    ) -> Queue:
        """The worker's queue, bound to each type it hears on its exchange; for a ``batched``
        worker (``Service.batched``), to the batched-events exchange instead."""
        bindings = [
            binding(self.batched if batched else self.exchange_for(c), routing_key=c.type)
            for c in contracts
            if c.kind != "timer"
        ]
        arguments: dict[str, object] = {}
        if self.quorum:
            arguments = {
                "x-queue-type": "quorum",
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-exchange": self.parking.name,
                "x-dead-letter-routing-key": worker,
            }
        return Queue(
            self.worker_queue_name(worker),
            bindings=bindings,
            durable=True,
            queue_arguments=arguments or None,
        )

    def parking_queue(self, worker: str) -> Queue:
        return Queue(
            self.parking_queue_name(worker),
            exchange=self.parking,
            routing_key=worker,
            durable=True,
            queue_arguments={"x-queue-type": "quorum"} if self.quorum else None,
        )


def channel_routing_key(channel: str, type_name: str) -> str:
    return f"{CHANNEL_PREFIX}.{channel}.{type_name}"


def channel_binding_key(channel: str) -> str:
    return f"{CHANNEL_PREFIX}.{channel}.#"


def channel_headers(type_name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The AMQP headers that also route an event to its order's channel: a ``BCC`` routing key
    for the ``CHANNEL_EVENTS`` that name a channel, none for anything else."""
    channel = data.get("channel")
    if type_name not in _CHANNEL_TYPES or not isinstance(channel, str):
        return {}
    if not CHANNEL_NAME.match(channel):
        return {}
    return {"BCC": [channel_routing_key(channel, type_name)]}


_CHANNEL_TYPES = frozenset(contract.type for contract in CHANNEL_EVENTS)
