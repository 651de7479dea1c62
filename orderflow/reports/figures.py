"""The figures of ``orderflow report``, from reporting's read model (``services.reporting``).

An order counts in a period if it was placed in it (a replacement is not a sale and is left
out). Money is never added across currencies: revenue and average order value are per currency.
Revenue is what paid orders brought in, less what was refunded on them. Lead times run from the
order's placing to each step, for the orders that reached it. A dispatch is on time if the
carrier's expected date, at dispatch, met the date the order promised; a delivery is on time if
it came by that date. Parked messages are read from the broker (``parked.py``); a cancel counts
as a failure, the customer's choice or a reviewer's (``CANCEL_CAUSES``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.reporting.model import (
    Base,
    ReportedOrder,
    ReportedRefund,
    ReportedRejection,
    ReportedReturn,
)
from shared.contracts import CancelReason
from shared.database import open_database
from shared.settings import Settings

from .parked import ONE_CHANNEL, READ_MODEL_ONLY, Parked, Unread, read_parked

STEPS = {"paid": "paid_at", "packed": "packed_at", "dispatched": "dispatched_at"}
STEPS["delivered"] = "delivered_at"
EXPIRING = ("bank_transfer", "escrow")
"""Payment methods with a deadline: an order paid so may expire unpaid."""
CANCEL_CAUSES: dict[str, str] = {
    CancelReason.OUT_OF_STOCK: "failure",
    CancelReason.BACKORDER_EXPIRED: "failure",
    CancelReason.PAYMENT_FAILED: "failure",
    CancelReason.DELIVERY_FAILED: "failure",
    CancelReason.PAYMENT_EXPIRED: "customer",
    CancelReason.CUSTOMER_CANCELLED: "customer",
    CancelReason.REVIEW_REJECTED: "review",
}
"""Whose doing a cancel was: the saga failing the order (stock, the gateway, the carrier), the
customer (cancelled, or never paid a transfer), or a reviewer. Any other reason: ``other``."""


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    channel: str | None = None


@dataclass(frozen=True)
class LeadTime:
    orders: int
    p50_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class Rate:
    count: int
    of: int

    @property
    def share(self) -> float | None:
        return self.count / self.of if self.of else None


@dataclass
class Figures:
    period: Period
    orders: int = 0
    rejected_submissions: int = 0
    revenue: dict[str, int] = field(default_factory=dict)
    average_order_value: dict[str, int] = field(default_factory=dict)
    by_channel: Counter[str] = field(default_factory=Counter)
    by_payment_method: Counter[str] = field(default_factory=Counter)
    by_country: Counter[str] = field(default_factory=Counter)
    lead_times: dict[str, LeadTime] = field(default_factory=dict)
    on_time_dispatch: Rate = Rate(0, 0)
    on_time_delivery: Rate = Rate(0, 0)
    cancelled: Rate = Rate(0, 0)
    cancel_reasons: Counter[str] = field(default_factory=Counter)
    cancelled_units_by_sku: Counter[str] = field(default_factory=Counter)
    returned_units: Rate = Rate(0, 0)
    return_reasons: Counter[str] = field(default_factory=Counter)
    returned_units_by_sku: Counter[str] = field(default_factory=Counter)
    backorders: int = 0
    backorder_wait: LeadTime = LeadTime(0, None, None)
    unpaid_expired: Rate = Rate(0, 0)
    submission_errors: Rate = Rate(0, 0)
    top_skus: list[tuple[str, int]] = field(default_factory=list)
    daily: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per day (ISO date): orders placed, and revenue per currency."""
    cancel_causes: Counter[str] = field(default_factory=Counter)
    parked: Parked | Unread = READ_MODEL_ONLY

    def per_thousand_orders(self, count: int) -> float | None:
        return 1000 * count / self.orders if self.orders else None


def compute_from(settings: Settings, period: Period, top: int = 10) -> Figures:
    """The figures from reporting's database, as ``settings`` name it, and the parking lots on
    the broker."""
    sessions = open_database(settings.database_url_for("reporting"), Base.metadata, True)
    try:
        with sessions() as session:
            figures = compute(session, period, top)
    finally:
        sessions.kw["bind"].dispose()
    if period.channel is not None:
        figures.parked = ONE_CHANNEL
    else:
        figures.parked = read_parked(settings, period.since, period.until)
    return figures


def compute(session: Session, period: Period, top: int = 10) -> Figures:
    orders = _orders(session, period)
    ids = [order.order_id for order in orders]
    refunded = select(ReportedRefund).where(ReportedRefund.order_id.in_(ids))
    refunds = _by_order(session.scalars(refunded))
    returns = list(session.scalars(select(ReportedReturn).where(ReportedReturn.order_id.in_(ids))))
    rejections = _rejections(session, period)
    figures = Figures(period, orders=len(orders), rejected_submissions=rejections)
    _money(figures, orders, refunds)
    _mix(figures, orders)
    _times(figures, orders)
    _ends(figures, orders, returns)
    figures.top_skus = _units(orders).most_common(top)
    return figures


def _orders(session: Session, period: Period) -> list[ReportedOrder]:
    query = (
        select(ReportedOrder)
        .where(ReportedOrder.placed_at >= period.since, ReportedOrder.placed_at < period.until)
        .where(ReportedOrder.replaces_order.is_(None))
        .order_by(ReportedOrder.placed_at, ReportedOrder.order_id)
        .options(selectinload(ReportedOrder.lines))
    )
    if period.channel is not None:
        query = query.where(ReportedOrder.channel == period.channel)
    return list(session.scalars(query))


def _by_order(refunds: Iterable[ReportedRefund]) -> dict[str, int]:
    given: dict[str, int] = defaultdict(int)
    for refund in refunds:
        given[refund.order_id] += refund.amount
    return given


def _rejections(session: Session, period: Period) -> int:
    query = select(ReportedRejection).where(
        ReportedRejection.rejected_at >= period.since, ReportedRejection.rejected_at < period.until
    )
    if period.channel is not None:
        query = query.where(ReportedRejection.channel == period.channel)
    return len(session.scalars(query).all())


def _money(figures: Figures, orders: list[ReportedOrder], refunds: dict[str, int]) -> None:
    revenue: dict[str, int] = defaultdict(int)
    paid: Counter[str] = Counter()
    for order in orders:
        day = figures.daily.setdefault(_day(order.placed_at), {"orders": 0})
        day["orders"] += 1
        if order.paid_at is None or order.currency is None or order.total is None:
            continue
        brought = order.total - refunds.get(order.order_id, 0)
        revenue[order.currency] += brought
        paid[order.currency] += 1
        day[order.currency] = day.get(order.currency, 0) + brought
    figures.revenue = dict(sorted(revenue.items()))
    figures.average_order_value = {c: round(revenue[c] / paid[c]) for c in figures.revenue}


def _mix(figures: Figures, orders: list[ReportedOrder]) -> None:
    figures.by_channel = Counter(order.channel or "?" for order in orders)
    figures.by_payment_method = Counter(order.payment_method or "?" for order in orders)
    figures.by_country = Counter(order.country or "?" for order in orders)


def _times(figures: Figures, orders: list[ReportedOrder]) -> None:
    for step, column in STEPS.items():
        figures.lead_times[step] = _lead([(o.placed_at, getattr(o, column)) for o in orders])
    dispatched = [o for o in orders if o.dispatched_at and o.promised_delivery]
    on_time = [o for o in dispatched if _by(o.carrier_expected_delivery, o.promised_delivery)]
    figures.on_time_dispatch = Rate(len(on_time), len(dispatched))
    came = [(o.delivered_at.date(), o.promised_delivery) for o in orders if o.delivered_at]
    delivered = [(day, promised) for day, promised in came if promised is not None]
    figures.on_time_delivery = Rate(sum(_by(*pair) for pair in delivered), len(delivered))
    waited = [o for o in orders if o.backordered_at is not None]
    figures.backorders = len(waited)
    figures.backorder_wait = _lead([(o.backordered_at, o.reserved_at) for o in waited])


def _ends(figures: Figures, orders: list[ReportedOrder], returns: list[ReportedReturn]) -> None:
    cancelled = [o for o in orders if o.cancelled_at is not None]
    figures.cancelled = Rate(len(cancelled), len(orders))
    figures.cancel_reasons = Counter(o.cancel_reason or "?" for o in cancelled)
    figures.cancel_causes = Counter(
        CANCEL_CAUSES.get(o.cancel_reason or "", "other") for o in cancelled
    )
    figures.cancelled_units_by_sku = _units(cancelled)
    sold = _units([o for o in orders if o.cancelled_at is None])
    back: Counter[str] = Counter()
    for returned in returns:
        for line in returned.lines:
            back[line.sku] += line.quantity
            figures.return_reasons[returned.reason or "?"] += line.quantity
    figures.returned_units = Rate(sum(back.values()), sum(sold.values()))
    figures.returned_units_by_sku = back
    expiring = [o for o in orders if o.payment_method in EXPIRING]
    expired = sum(1 for o in expiring if o.payment_expired_at is not None)
    figures.unpaid_expired = Rate(expired, len(expiring))
    submitted = len(orders) + figures.rejected_submissions
    figures.submission_errors = Rate(figures.rejected_submissions, submitted)


def _by(day: date | None, promised: date | None) -> bool:
    return day is not None and promised is not None and day <= promised


def _units(orders: Iterable[ReportedOrder]) -> Counter[str]:
    units: Counter[str] = Counter()
    for order in orders:
        for line in order.lines:
            units[line.sku] += line.quantity
    return units


def _lead(pairs: Iterable[tuple[datetime | None, datetime | None]]) -> LeadTime:
    hours = [(end - start) / timedelta(hours=1) for start, end in pairs if start and end]
    if not hours:
        return LeadTime(0, None, None)
    return LeadTime(len(hours), _percentile(hours, 50), _percentile(hours, 90))


def _percentile(values: list[float], percent: int) -> float:
    """The nearest-rank percentile: a value that occurred."""
    if len(values) == 1:
        return values[0]
    ranked = sorted(values)
    return ranked[max(0, -(-percent * len(ranked) // 100) - 1)]


def _day(at: datetime | None) -> str:
    assert at is not None
    return at.date().isoformat()
