"""Customer-service and operator actions sent as commands, as a channel or a back office would.

The CLI checks what it can see first (the order exists, it is not already closed) so that the
usual mistakes get a plain answer at once; the worker that owns the decision still decides and
its answer is read back from that worker's outbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.aftersales.model import Case
from services.intake.model import TERMINAL
from services.intake.store import IntakeUnitOfWork
from shared import tracing
from shared.brokers import OPERATOR, signed
from shared.contracts import Message
from shared.envelope import Envelope, wrap
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings, refuse_unless_real_broker
from shared.topology import Topology

from ..cluster.databases import Entry, WorkerDatabases

NO_WORKER_SEES_COMMANDS = "no worker would see this command"


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
    if state.status in {"delivered", "in_aftersales", *TERMINAL}:
        raise NotAllowed(
            f"order {state.order_id} is {state.status}: too late to {action}; "
            "offer the customer a return instead"
        )


def refuse_unless_held(state: OrderState, action: str) -> None:
    """A review decides only an order a review rule holds."""
    if state.status == "held":
        return
    was = f"cancelled ({state.cancel_reason})" if state.status == "cancelled" else state.status
    raise NotAllowed(f"order {state.order_id} is {was}, not held for review: nothing to {action}")


def refuse_unless_delivered(state: OrderState, action: str) -> None:
    """After-sales is for delivered orders whose window intake has not closed yet."""
    if state.status in ("delivered", "in_aftersales"):
        return
    if state.status in ("rejected", "cancelled"):
        raise NotAllowed(f"order {state.order_id} is {state.status}; there is nothing to {action}")
    if state.status in TERMINAL:
        raise NotAllowed(
            f"order {state.order_id} is {state.status}: its return window has closed; "
            f"too late to {action}"
        )
    raise NotAllowed(
        f"order {state.order_id} is {state.status}, not delivered yet: nothing to {action}; "
        "the customer may cancel it instead"
    )


def rma_awaiting_goods(dbs: WorkerDatabases, rma: str, returned: Mapping[str, int]) -> None:
    """The RMA exists, waits for its goods, and authorized at least what came back."""
    with dbs.session("aftersales") as session:
        case = session.get(Case, rma)
        if case is None or case.kind == "resend":
            raise NotAllowed(f"rma: no RMA has the number {rma!r}")
        if case.status == "closed":
            raise NotAllowed(f"RMA {rma} is closed ({case.outcome}): it awaits no goods")
        if case.status != "awaiting_goods":
            raise NotAllowed(
                f"RMA {rma} awaits no goods: they came back already and its replacement is "
                "on the way"
            )
        for sku, quantity in sorted(returned.items()):
            if quantity > case.lines.get(sku, 0):
                raise NotAllowed(
                    f"{sku}: {quantity} came back but RMA {rma} authorized {case.lines.get(sku, 0)}"
                )


def send(settings: Settings, message: Message) -> Envelope:
    """Publish one command with a publisher confirm."""
    refuse_unless_real_broker(settings, NO_WORKER_SEES_COMMANDS)
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    envelope = wrap(message, source="cli")
    link = BrokerLink(settings.broker_url_for(OPERATOR), heartbeat=0)
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
                    properties=signed(link),
                    headers=tracing.new_trace(),
                )
            ]
        )
    finally:
        link.close()
    return envelope


def await_answer(
    dbs: WorkerDatabases,
    subject: str,
    types: Iterable[str],
    since: datetime,
    timeout: float,
    match: Mapping[str, Any] | None = None,
) -> Entry | None:
    """The first of ``types`` announced about ``subject`` after ``since`` whose data carries
    ``match``, or None in time."""
    wanted = set(types)
    deadline = time.monotonic() + timeout
    while True:
        for entry in dbs.timeline(subject):
            if entry.type in wanted and entry.at >= since and _carries(entry, match or {}):
                return entry
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def _carries(entry: Entry, match: Mapping[str, Any]) -> bool:
    """Fields the answer has must match; an answer without the field (a replacement's, which
    names no request) is taken on its type and time."""
    return all(entry.data.get(field, value) == value for field, value in match.items())


def now() -> datetime:
    return datetime.now(UTC)
