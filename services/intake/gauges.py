"""The saga seen from intake's database, as gauges: orders per status and channel, the age of
the oldest order in each status not ended (since its last change), and the orders stuck in each
(longer than the status's bound, ``stuck_after_seconds``).

Intake's runtime reads them every ``gauge_refresh_seconds`` with one aggregate query
(``Service.gauges``), never per message. Every replica reads the same database and reports the
same values: dashboards and alerts take the ``max`` over replicas. Every known (status, channel)
is reported, 0 when there is none, so a status that empties reads 0 rather than its last value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from shared import metrics
from shared.contracts import Channel

from .status import ACTIVE, OrderStatus
from .store import OrderStore, StatusCount


@dataclass(frozen=True)
class SagaView:
    orders: dict[tuple[str, str], int]
    oldest_age: dict[str, float]
    stuck: dict[str, int]


def saga_view(counts: Iterable[StatusCount], now: datetime) -> SagaView:
    """The gauges' values from intake's counts, every known label set included."""
    orders = {(status.value, channel.value): 0 for status in OrderStatus for channel in Channel}
    oldest_age = {status.value: 0.0 for status in ACTIVE}
    stuck = {status.value: 0 for status in ACTIVE}
    for row in counts:
        orders[(row.status, row.channel)] = orders.get((row.status, row.channel), 0) + row.count
        if row.status in oldest_age:
            age = max((now - row.oldest).total_seconds(), 0.0)
            oldest_age[row.status] = max(oldest_age[row.status], age)
            stuck[row.status] += row.stuck
    return SagaView(orders, oldest_age, stuck)


@dataclass(eq=False)
class SagaGauges:
    """``Service.gauges`` for intake."""

    bounds: Mapping[OrderStatus, float]
    _seen: set[tuple[str, str]] = field(default_factory=set, init=False)

    def __call__(self, session: Session, now: datetime) -> None:
        bounds = {status.value: seconds for status, seconds in self.bounds.items()}
        self.report(saga_view(OrderStore(session).by_status(now, bounds), now))

    def report(self, view: SagaView) -> None:
        for gone in self._seen - view.orders.keys():
            metrics.ORDERS.labels(*gone).set(0)  # a channel no order has any more
        self._seen |= view.orders.keys()
        for (status, channel), count in view.orders.items():
            metrics.ORDERS.labels(status, channel).set(count)
        for status, age in view.oldest_age.items():
            metrics.ORDER_OLDEST_AGE.labels(status).set(age)
        for status, count in view.stuck.items():
            metrics.ORDERS_STUCK.labels(status).set(count)
