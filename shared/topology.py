"""Every exchange and queue, in one place, derived from the workers' handler tables.

Events travel on a topic exchange, channel commands on another; each worker has one durable
queue bound to the message types its handler table names, and a parking-lot queue. On RabbitMQ
both are quorum queues; a worker queue dead-letters to its parking lot after ``delivery_limit``
deliveries, so a message that crashes its worker cannot loop forever.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kombu import Exchange, Queue, binding

from shared.contracts import Message


@dataclass(frozen=True)
class Topology:
    namespace: str
    quorum: bool
    delivery_limit: int

    @property
    def events(self) -> Exchange:
        return Exchange(f"{self.namespace}.events", type="topic", durable=True)

    @property
    def commands(self) -> Exchange:
        return Exchange(f"{self.namespace}.commands", type="topic", durable=True)

    @property
    def parking(self) -> Exchange:
        return Exchange(f"{self.namespace}.parking", type="direct", durable=True)

    def exchange_for(self, contract: type[Message]) -> Exchange:
        return self.commands if contract.kind == "command" else self.events

    def worker_queue_name(self, worker: str) -> str:
        return f"{self.namespace}.{worker}"

    def parking_queue_name(self, worker: str) -> str:
        return f"{self.namespace}.{worker}.parking"

    def worker_queue(self, worker: str, contracts: Iterable[type[Message]]) -> Queue:
        bindings = [
            binding(self.exchange_for(c), routing_key=c.type)
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
