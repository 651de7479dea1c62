"""A story: an order, what the outside world does to it, and how it must end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.intake.model import Order
from services.intake.store import IntakeUnitOfWork

from ..cluster.databases import Entry, WorkerDatabases
from .world import Move


@dataclass(frozen=True)
class Ending:
    """Where a story's order ends, and what must have been said on the way."""

    status: str
    reason: str | None = None
    announces: tuple[str, ...] = ()
    """Announcements about the order (its replacements' included), each at least as often as
    listed."""
    told: frozenset[str] | None = None
    """Exactly the announcements the customer is e-mailed about (none, for a customer who cannot
    be reached); None leaves it unsaid."""
    replenishes: Mapping[str, int] = field(default_factory=dict)
    """SKU → the quantity stock asks its supplier for, once, because of this order."""

    def departures(self, order: Order, timeline: Sequence[Entry]) -> list[str]:
        """How the order's end differs from this one, in words; empty if it does not."""
        found = []
        if (order.status, order.cancel_reason) != (self.status, self.reason):
            ended = order.status + (f": {order.cancel_reason}" if order.cancel_reason else "")
            meant = self.status + (f": {self.reason}" if self.reason else "")
            found.append(f"ended {ended}, not {meant}")
        types = [entry.type for entry in timeline]
        missing = sorted({t for t in self.announces if types.count(t) < self.announces.count(t)})
        if missing:
            found.append(f"never announced {', '.join(missing)} as often as told")
        if self.told is not None:
            told = {str(e.data.get("about")) for e in timeline if e.type == "notification.sent"}
            if told != self.told:
                found.append(f"told the customer of {sorted(told)}, not {sorted(self.told)}")
        return found


def told(*types: str) -> frozenset[str]:
    return frozenset(types)


SHIPPED = ("order.placed", "shipment.dispatched", "shipment.delivered")
"""What every delivered customer is told at least."""
COMPLETED = Ending(
    "completed", announces=("payment.captured", "order.completed"), told=told(*SHIPPED)
)


@dataclass(frozen=True)
class Story:
    submission: Mapping[str, Any]
    says: str
    """What the story shows, in a sentence for the demo's readers."""
    ending: Ending
    moves: tuple[Move, ...] = ()
    submissions: int = 1
    """How often the channel submits the order (a duplicate must be placed once)."""

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.submission["channel"]), str(self.submission["external_id"]))

    @property
    def name(self) -> str:
        return f"{self.key[0]}:{self.key[1]}"


def orders_by_key(dbs: WorkerDatabases) -> dict[tuple[str, str], Order]:
    """Every order intake has, by (channel, external id)."""
    with dbs.session("intake") as session:
        found = IntakeUnitOfWork(session).orders.recent(10_000)
    return {(o.channel, o.external_id): o for o in found}


def departures(dbs: WorkerDatabases, stories: Sequence[Story]) -> dict[str, list[str]]:
    """Each story that did not end as it says, with how (stock's replenishment requests are
    read from each SKU's own timeline)."""
    orders = orders_by_key(dbs)
    timelines = dbs.timelines([orders[s.key].id for s in stories if s.key in orders])
    found: dict[str, list[str]] = {}
    for story in stories:
        order = orders.get(story.key)
        if order is None:
            found[story.name] = ["intake never heard of the order"]
            continue
        wrong = story.ending.departures(order, timelines[order.id])
        for sku, quantity in story.ending.replenishes.items():
            asked = [
                int(str(e.data["quantity"]))
                for e in dbs.timeline(f"sku:{sku}")
                if e.type == "stock.replenishment_requested"
            ]
            if asked != [quantity]:
                wrong.append(f"stock asked the supplier for {asked} of {sku}, not [{quantity}]")
        if wrong:
            found[story.name] = wrong
    return found
