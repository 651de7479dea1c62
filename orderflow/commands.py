"""Customer-service and operator actions sent as commands, as a channel or a back office would.

The CLI checks what it can see first (the order exists, it is not already closed) so that the
usual mistakes get a plain answer at once; the worker that owns the decision still decides and
its answer is read back from that worker's outbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.intake.model import TERMINAL
from services.intake.store import IntakeUnitOfWork
from shared.contracts import Message
from shared.envelope import Envelope, wrap
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology

from .databases import Entry, WorkerDatabases


class NotAllowed(ValueError):
    """The action makes no sense for the order as it stands; the message says why."""


@dataclass(frozen=True)
class OrderState:
    order_id: str
    status: str
    cancel_reason: str | None


def order_state(dbs: WorkerDatabases, order_id: str) -> OrderState:
    with dbs.session("intake") as session:
        order = IntakeUnitOfWork(session).orders.get(order_id)
    if order is None:
        raise NotAllowed(f"order: no order has the id {order_id!r}")
    return OrderState(order.id, order.status, order.cancel_reason)


def refuse_if_closed(state: OrderState, action: str) -> None:
    if state.status == "rejected":
        raise NotAllowed(f"order {state.order_id} was rejected; there is nothing to {action}")
    if state.status == "cancelled":
        raise NotAllowed(
            f"order {state.order_id} is already cancelled ({state.cancel_reason}); "
            f"there is nothing to {action}"
        )
    if state.status in {"delivered", *TERMINAL}:
        raise NotAllowed(
            f"order {state.order_id} is {state.status}: too late to {action}; "
            "offer the customer a return instead"
        )


def send(settings: Settings, message: Message) -> Envelope:
    """Publish one command with a publisher confirm."""
    if not settings.on_real_broker:
        raise NotAllowed(
            "ORDERFLOW_BROKER_URL is memory://, which lives inside one process: no worker would "
            "see this command. Point it at RabbitMQ (amqp://...)."
        )
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    envelope = wrap(message, source="cli")
    link = BrokerLink(settings.broker_url, heartbeat=0)
    link.connect()
    try:
        link.declare([topology.commands])
        link.publish_confirmed(
            [
                Outgoing(
                    body=envelope.encode(),
                    exchange=topology.commands,
                    routing_key=envelope.type,
                    message_id=envelope.id,
                    correlation_id=envelope.correlationid,
                )
            ]
        )
    finally:
        link.close()
    return envelope


def await_answer(
    dbs: WorkerDatabases, subject: str, types: Iterable[str], since: datetime, timeout: float
) -> Entry | None:
    """The first of ``types`` announced about ``subject`` after ``since``, or None in time."""
    wanted = set(types)
    deadline = time.monotonic() + timeout
    while True:
        for entry in dbs.timeline(subject):
            if entry.type in wanted and entry.at >= since:
                return entry
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def now() -> datetime:
    return datetime.now(UTC)
