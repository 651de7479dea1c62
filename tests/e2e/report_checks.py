"""The figures ``orderflow report`` prints, counted again a second way: from the workers' own
tables (intake's orders, payment's payments, shipping's shipments, after-sales' cases) and, for
step times, from the outbox rows in which each worker recorded what it announced; parked
messages from the broker's own count of each parking queue. None of it reads reporting's
database or its code, nor the parking lot's."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from kombu import Connection
from sqlalchemy import select

from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.registry import NAMES
from services.aftersales.model import Case
from services.intake.model import Order
from services.payment.model import Payment
from services.shipping.model import Shipment
from shared.settings import Settings
from shared.topology import Topology

STEP_EVENTS = {
    "paid": ("payment", ("payment.captured",)),
    "packed": ("warehouse", ("fulfillment.packed",)),
    "dispatched": ("shipping", ("shipment.dispatched",)),
}


def counted(dbs: WorkerDatabases) -> dict[str, Any]:
    """The report's figures for every order there is, counted from the workers' tables."""
    with dbs.session("intake") as session:
        orders = list(session.scalars(select(Order)))
    placed = [o for o in orders if o.status != "rejected"]
    ids = {o.id for o in placed}
    with dbs.session("payment") as session:
        payments = {p.order_id: p for p in session.scalars(select(Payment)) if p.order_id in ids}
    with dbs.session("shipping") as session:
        shipments = {s.order_id: s for s in session.scalars(select(Shipment)) if s.order_id in ids}
    with dbs.session("aftersales") as session:
        cases = [c for c in session.scalars(select(Case)) if c.order_id in ids]
    cancelled = [o for o in placed if o.cancel_reason is not None]
    sold = _units(o for o in placed if o.cancel_reason is None)
    returned = Counter[str]()
    for case in cases:
        if case.send_by is not None:  # an RMA was authorized: goods are to come back
            returned.update(case.lines)
    reasons = Counter[str]()
    for case in cases:
        if case.send_by is not None:
            reasons[case.reason] += sum(case.lines.values())
    expiring = [p for p in payments.values() if p.method in ("bank_transfer", "escrow")]
    rejections = sum(o.attempts - (0 if o.status == "rejected" else 1) for o in orders)
    revenue, paid = _revenue(placed, payments)
    placed_at = _first_announced(dbs, "intake", ("order.placed",))
    backordered = _first_announced(dbs, "stock", ("stock.backordered",))
    reserved = _first_announced(dbs, "stock", ("stock.reserved",))
    waits = [(at, reserved.get(i)) for i, at in backordered.items() if i in ids]
    return {
        "orders": len(placed),
        "by_channel": Counter(o.channel for o in placed),
        "by_payment_method": Counter(o.payment.method for o in placed if o.payment),
        "by_country": Counter(o.delivery.address.country for o in placed if o.delivery),
        "cancelled": {"count": len(cancelled), "of": len(placed)},
        "cancel_reasons": Counter(o.cancel_reason for o in cancelled),
        "cancelled_units_by_sku": _units(cancelled),
        "top_skus_units": _units(placed),
        "returned_units": {"count": sum(returned.values()), "of": sum(sold.values())},
        "returned_units_by_sku": returned,
        "unpaid_expired": {
            "count": sum(1 for p in expiring if p.status == "expired"),
            "of": len(expiring),
        },
        "rejected_submissions": rejections,
        "submission_errors": {"count": rejections, "of": len(placed) + rejections},
        "revenue_minor_units": revenue,
        "average_order_value_minor_units": {c: round(revenue[c] / paid[c]) for c in revenue},
        "return_reasons_units": reasons,
        "on_time_dispatch": _on_time_dispatch(placed, shipments),
        "on_time_delivery": _on_time_delivery(placed, shipments),
        "lead_times_hours": _lead_times(dbs, placed, shipments),
        "backorders": sum(1 for i in backordered if i in ids),
        "backorder_wait_hours": _hours(waits),
        "daily": _daily(placed, placed_at, payments),
    }


def parked_at_broker(settings: Settings) -> dict[str, int]:
    """How many messages each worker's parking queue holds, as the broker counts them (the
    workers with none left out)."""
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    with Connection(settings.broker_url) as connection:
        channel = connection.channel()
        counts = {
            name: channel.queue_declare(topology.parking_queue_name(name), passive=True)[1]
            for name in NAMES
        }
    return {name: count for name, count in counts.items() if count}


def _units(orders: Any) -> Counter[str]:
    units = Counter[str]()
    for order in orders:
        for line in order.lines:
            units[line.sku] += line.quantity
    return units


def _revenue(
    placed: list[Order], payments: dict[str, Payment]
) -> tuple[dict[str, int], Counter[str]]:
    """What each order whose money was taken (cash on delivery: at the door) came to, less
    what was refunded, per currency; and how many such orders."""
    revenue, paid = Counter[str](), Counter[str]()
    for order in placed:
        brought = _brought(order, payments.get(order.id))
        if brought is not None:
            assert order.currency is not None
            revenue[order.currency] += brought
            paid[order.currency] += 1
    return dict(sorted(revenue.items())), paid


def _brought(order: Order, payment: Payment | None) -> int | None:
    if payment is None or payment.status not in ("captured", "refunded"):
        return None
    return order.items_total + order.shipping_fee - payment.refunded_amount


def _daily(
    placed: list[Order], placed_at: dict[str, datetime], payments: dict[str, Payment]
) -> dict[str, dict[str, int]]:
    days: dict[str, Counter[str]] = {}
    for order in placed:
        day = days.setdefault(placed_at[order.id].date().isoformat(), Counter())
        day["orders"] += 1
        brought = _brought(order, payments.get(order.id))
        if brought is not None and order.currency is not None:
            day[order.currency] += brought
    return {day: dict(values) for day, values in sorted(days.items())}


def _on_time_dispatch(placed: list[Order], shipments: dict[str, Shipment]) -> dict[str, int]:
    """Dispatched with the carrier's expected date on or before the promised one."""
    booked = [
        (shipments[o.id].expected_delivery, o.expected_delivery)
        for o in placed
        if o.id in shipments and shipments[o.id].booked_at and o.expected_delivery
    ]
    kept = sum(1 for expected, promised in booked if expected and expected <= promised)
    return {"count": kept, "of": len(booked)}


def _on_time_delivery(placed: list[Order], shipments: dict[str, Shipment]) -> dict[str, int]:
    came = [
        (shipments[o.id].delivered_at, o.expected_delivery)
        for o in placed
        if o.id in shipments and shipments[o.id].delivered_at and o.expected_delivery
    ]
    kept = sum(1 for at, promised in came if at is not None and at.date() <= promised)
    return {"count": kept, "of": len(came)}


def _lead_times(
    dbs: WorkerDatabases, placed: list[Order], shipments: dict[str, Shipment]
) -> dict[str, dict[str, Any]]:
    ids = {o.id for o in placed}
    start = _first_announced(dbs, "intake", ("order.placed",))
    found = {}
    for step, (worker, types) in STEP_EVENTS.items():
        ends = _first_announced(dbs, worker, types)
        found[step] = _hours([(start.get(i), ends.get(i)) for i in ids])
    delivered = {i: s.delivered_at for i, s in shipments.items()}
    found["delivered"] = _hours([(start.get(i), delivered.get(i)) for i in ids])
    return found


def _first_announced(
    dbs: WorkerDatabases, worker: str, types: tuple[str, ...]
) -> dict[str, datetime]:
    c = dbs.tables[worker].outbox.table.c
    first: dict[str, datetime] = {}
    with dbs.session(worker) as session:
        for subject, at in session.execute(
            select(c.subject, c.created_at).where(c.type.in_(types))
        ):
            if subject not in first or at < first[subject]:
                first[subject] = at
    return first


def _hours(pairs: list[tuple[datetime | None, datetime | None]]) -> dict[str, Any]:
    hours = sorted((end - start) / timedelta(hours=1) for start, end in pairs if start and end)
    if not hours:
        return {"orders": 0, "p50": None, "p90": None}

    def rank(percent: int) -> float:
        return round(hours[max(0, -(-percent * len(hours) // 100) - 1)], 2)

    return {"orders": len(hours), "p50": rank(50), "p90": rank(90)}
