"""The four invariants of the design brief, checked from each worker's own tables.

1. every order is terminal, or waits in a named state with a timer scheduled;
2. stock is conserved per SKU (on hand = sum of its ledger; reserved = open reservations) and no
   reservation outlives its order;
3. money is conserved per order (refunded <= captured; a cancelled or fully returned order nets
   to zero; a completed one keeps its total less what after-sales refunded; what is kept is in
   the order's currency; nothing is charged twice, and a replacement is never charged);
4. every effect happened once: one gateway charge per order, one notification per announced event.

An after-sales case (``<order>.<n>``) and its replacement belong to their order: their timers
keep it waiting, their reservations must end with it, their notifications count for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select

from services.aftersales.model import Case
from services.intake.model import TERMINAL, Order
from services.intake.store import IntakeUnitOfWork
from services.notifier.model import Notification
from services.payment.store import PaymentUnitOfWork
from services.stock.model import ReservationStatus
from services.stock.store import StockUnitOfWork
from shared.contracts import original_order

from ..cluster.databases import WorkerDatabases
from ..cluster.registry import build

NOTIFIED_TYPES = [contract.type for contract in build("notifier").subscriptions]


@dataclass
class Audit:
    orders: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    waiting: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def settled(self) -> bool:
        """Every order terminal or waiting on a timer: nothing is in flight."""
        in_flight = self.orders - sum(self.by_status[s] for s in TERMINAL) - len(self.waiting)
        return in_flight == 0


def audit(dbs: WorkerDatabases) -> Audit:
    report = Audit()
    orders = _orders(dbs)
    report.orders = len(orders)
    report.by_status.update(order.status for order in orders.values())
    _check_orders(dbs, orders, report)
    _check_stock(dbs, orders, report)
    _check_money(dbs, orders, report)
    _check_once(dbs, orders, report)
    return report


def _orders(dbs: WorkerDatabases) -> dict[str, Order]:
    with dbs.session("intake") as session:
        return {o.id: o for o in IntakeUnitOfWork(session).orders.recent(limit=10_000_000)}


def _check_orders(dbs: WorkerDatabases, orders: dict[str, Order], report: Audit) -> None:
    """Invariant 1: an order that is not terminal must wait in a named state on a timer."""
    for order in orders.values():
        if not order.terminal and order.status != "placed" and dbs.pending(order.id):
            report.waiting.append(order.id)


def _check_stock(dbs: WorkerDatabases, orders: dict[str, Order], report: Audit) -> None:
    with dbs.session("stock") as session:
        uow = StockUnitOfWork(session)
        ledger = uow.items.ledger_totals()
        open_reserved = uow.reservations.open_quantities()
        claimed = uow.backorders.waiting_quantities()
        on_order = uow.purchase_orders.outstanding_quantities()
        for item in uow.items.all():
            if item.backordered != claimed.get(item.sku, 0):
                report.violations.append(
                    f"stock {item.sku}: {item.backordered} backordered but waiting orders claim "
                    f"{claimed.get(item.sku, 0)}"
                )
            if item.on_order != on_order.get(item.sku, 0):
                report.violations.append(
                    f"stock {item.sku}: {item.on_order} on order but purchase orders bring "
                    f"{on_order.get(item.sku, 0)}"
                )
            if item.on_hand != ledger.get(item.sku, 0):
                report.violations.append(
                    f"stock {item.sku}: on hand {item.on_hand} but its ledger sums to "
                    f"{ledger.get(item.sku, 0)}"
                )
            if item.reserved != open_reserved.get(item.sku, 0) or item.reserved < 0:
                report.violations.append(
                    f"stock {item.sku}: {item.reserved} reserved but open reservations hold "
                    f"{open_reserved.get(item.sku, 0)}"
                )
        holding = [ReservationStatus.RESERVED, ReservationStatus.BACKORDERED]
        for status in holding:
            for order_id in uow.reservations.ids_with_status(status):
                order = orders.get(original_order(order_id))
                if order is not None and order.terminal:
                    report.violations.append(
                        f"order {order_id}: {order.status} but stock still holds it ({status})"
                    )


def _check_money(dbs: WorkerDatabases, orders: dict[str, Order], report: Audit) -> None:
    with dbs.session("payment") as session:
        uow = PaymentUnitOfWork(session)
        moved = uow.payments.money_moved_by_order()
        charges = uow.gateway_ledger.approved_by_reference()
    with dbs.session("aftersales") as session:
        query = select(Case.order_id, func.sum(Case.refund_amount)).group_by(Case.order_id)
        aftersales_refunds = {order_id: int(total) for order_id, total in session.execute(query)}
    for order_id, money in moved.items():
        order = orders.get(order_id)
        if money.refunded > money.captured:
            report.violations.append(
                f"order {order_id}: refunded {money.refunded} > captured {money.captured}"
            )
        if order is None:
            continue
        kept = money.captured - money.refunded
        if kept and order.currency and money.currency != order.currency:
            report.violations.append(
                f"order {order_id}: keeps {kept} {money.currency}, but the order is in "
                f"{order.currency}"
            )
        if (
            order.status in ("cancelled", "rejected", "returned")
            and money.captured != money.refunded
        ):
            report.violations.append(
                f"order {order_id}: {order.status} but captured - refunded = "
                f"{money.captured - money.refunded}"
            )
        expected = order.total - aftersales_refunds.get(order_id, 0)
        if order.status == "completed" and money.captured - money.refunded != expected:
            report.violations.append(
                f"order {order_id}: completed with {money.captured - money.refunded} kept, "
                f"expected its total {order.total} less after-sales refunds, {expected}"
            )
    for order_id, count in charges.items():
        if order_id != original_order(order_id):
            report.violations.append(f"replacement {order_id}: charged at the gateway")
        if count > 1:
            report.violations.append(f"order {order_id}: charged {count} times at the gateway")


def _check_once(dbs: WorkerDatabases, orders: dict[str, Order], report: Audit) -> None:
    announced: Counter[tuple[str, str]] = Counter()
    for name in dbs.sessions:
        with dbs.session(name) as session:
            outbox = dbs.tables[name].outbox
            announced.update(outbox.counts(session, NOTIFIED_TYPES))
            backlog = outbox.backlog(session)
        if backlog:
            report.violations.append(
                f"{name}: {backlog} announcements never confirmed by the broker"
            )
    with dbs.session("notifier") as session:
        query = select(Notification.order_id, Notification.about, func.count()).group_by(
            Notification.order_id, Notification.about
        )
        notified = {(o, about): int(n) for o, about, n in session.execute(query)}
    for key, count in announced.items():
        if original_order(key[0]) in orders and notified.get(key, 0) != count:
            report.violations.append(
                f"order {key[0]}: {count} {key[1]} announced, {notified.get(key, 0)} notifications"
            )
