"""Stuck orders for operators (``orderflow order stuck``): the orders intake holds in a status
longer than its bound (``ORDERFLOW_INTAKE_STUCK_AFTER_SECONDS``, the same bounds as
``orderflow_orders_stuck``), and where each one waits.

Where it waits comes from what the workers announced about it (their outboxes) and what they
still have scheduled for it (their timers): ``placed`` covers the whole way from reservation to
delivery, and the last step announced on that way names the worker the order waits on now.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.intake.settings import IntakeSettings
from services.intake.status import OrderStatus
from services.intake.store import OrderStore
from shared.settings import Settings

from ..cluster.databases import Pending, WorkerDatabases

S = OrderStatus

PLACED_STEPS: Sequence[tuple[str, tuple[str, str]]] = (
    ("shipment.delivered", ("intake", "recording the delivery")),
    ("shipment.delivery_failed", ("shipping", "the carrier's next delivery attempt")),
    ("shipment.in_transit", ("shipping", "the carrier to deliver")),
    ("shipment.dispatched", ("shipping", "the carrier to deliver")),
    ("fulfillment.packed", ("shipping", "a carrier booking")),
    ("payment.captured", ("warehouse", "packing")),
    ("payment.deferred", ("warehouse", "packing")),
    ("stock.reserved", ("payment", "payment")),
    ("order.placed", ("stock", "a reservation")),
)
"""A placed order's steps, the furthest first: the furthest it announced, and what comes next."""

WAITS: dict[str, tuple[str, str]] = {
    S.RECEIVED: ("intake", "judging the submission"),
    S.PLACED: ("stock", "a reservation"),
    S.HELD: ("intake", "a reviewer's decision (or the review timer)"),
    S.BACKORDERED: ("stock", "goods on backorder"),
    S.AWAITING_PAYMENT: ("payment", "the customer's transfer"),
    S.DELIVERED: ("intake", "the completion window"),
    S.IN_AFTERSALES: ("aftersales", "its open cases to close"),
}


def waits_on(status: str, announced: Collection[str]) -> tuple[str, str]:
    """The worker an order in ``status`` waits on, and for what, given the types announced
    about it."""
    if status == S.PLACED:
        for step, next_step in PLACED_STEPS:
            if step in announced:
                return next_step
    return WAITS.get(status, ("intake", status))


@dataclass(frozen=True)
class StuckOrder:
    order_id: str
    channel: str
    status: str
    since: datetime
    bound_seconds: float
    waits_on: str
    waiting_for: str
    timer: Pending | None
    """The next timer any worker holds for the order (a deadline, a reminder, a completion)."""

    def as_json(self, now: datetime) -> dict[str, object]:
        timer = self.timer
        return {
            "order_id": self.order_id,
            "channel": self.channel,
            "status": self.status,
            "since": self.since.isoformat(),
            "for_seconds": round((now - self.since).total_seconds(), 1),
            "bound_seconds": self.bound_seconds,
            "waits_on": self.waits_on,
            "waiting_for": self.waiting_for,
            "next_timer": None
            if timer is None
            else {"type": timer.type, "worker": timer.worker, "due": timer.due.isoformat()},
        }


def stuck_orders(
    settings: Settings, intake: IntakeSettings, now: datetime, limit: int
) -> list[StuckOrder]:
    bounds = {status.value: seconds for status, seconds in intake.stuck_after_seconds.items()}
    dbs = WorkerDatabases(settings)
    try:
        with dbs.session("intake") as session:
            orders = OrderStore(session).stuck(now, bounds, limit)
        timelines = dbs.timelines([order.id for order in orders])
        found = []
        for order in orders:
            announced = {entry.type for entry in timelines[order.id]}
            worker, what = waits_on(order.status, announced)
            pending = dbs.pending(order.id)
            found.append(
                StuckOrder(
                    order.id,
                    order.channel,
                    order.status,
                    order.updated_at,
                    bounds[order.status],
                    worker,
                    what,
                    pending[0] if pending else None,
                )
            )
        return found
    finally:
        dbs.dispose()
