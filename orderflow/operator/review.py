"""The reviewer's queue: the orders a review rule holds, from intake's database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.intake.store import OrderStore
from shared.settings import Settings

from ..cluster.databases import WorkerDatabases


@dataclass(frozen=True)
class HeldOrder:
    order_id: str
    channel: str
    external_id: str
    total: int
    currency: str
    held_since: datetime
    review_due: datetime
    reasons: list[str]
    """Each rule that held it, as ``rule: what tripped it``."""

    def as_json(self) -> dict[str, object]:
        return {
            "order_id": self.order_id,
            "channel": self.channel,
            "external_id": self.external_id,
            "total": {"amount": self.total, "currency": self.currency},
            "held_since": self.held_since.isoformat(),
            "review_due": self.review_due.isoformat(),
            "reasons": self.reasons,
        }


def held_orders(settings: Settings, limit: int) -> list[HeldOrder]:
    dbs = WorkerDatabases(settings, ["intake"])
    try:
        with dbs.session("intake") as session:
            return [
                HeldOrder(
                    order.id,
                    order.channel,
                    order.external_id,
                    order.total,
                    order.currency or "",
                    order.updated_at,
                    order.review_due or order.updated_at,
                    [f"{reason.rule}: {reason.message}" for reason in order.review_reasons],
                )
                for order in OrderStore(session).held(limit)
            ]
    finally:
        dbs.dispose()
