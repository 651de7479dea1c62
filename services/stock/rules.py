"""Stock's rules, as pure functions over locked rows: all or nothing, first come first served,
which purchase order brings a waiting order's goods, and what of a customer's return is resold."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.contracts import InspectedLine, ItemQuantity, OrderLine, ReservedLine, Shortage

from .model import Item, Items, Reservation
from .supply import PurchaseOrder


@dataclass(frozen=True)
class Allocation:
    """The outcome of trying to reserve an order's lines against what is available."""

    reserved: list[ReservedLine]
    shortages: list[Shortage]
    unknown: list[str]

    @property
    def complete(self) -> bool:
        return not self.shortages and not self.unknown

    def may_wait(self, items: Items) -> bool:
        """Every short SKU allows backorders (and every SKU is known)."""
        return not self.unknown and all(items[s.sku].backorder_allowed for s in self.shortages)


def allocate(lines: Iterable[OrderLine | ItemQuantity], items: Items) -> Allocation:
    """All or nothing: every line must fit in what is available, or nothing is reserved (the
    lines of an order, or of an after-sales replacement).

    What orders that wait were promised is not available to a later order (``Item.available``).
    """
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    unknown = sorted(sku for sku in wanted if sku not in items)
    shortages = [
        Shortage(sku=sku, requested=qty, available=max(items[sku].available, 0))
        for sku, qty in sorted(wanted.items())
        if sku in items and items[sku].available < qty
    ]
    reserved = [items[sku].line(qty) for sku, qty in sorted(wanted.items()) if sku in items]
    return Allocation(reserved, shortages, unknown)


def servable(
    skus: Iterable[str], waiting: Sequence[Reservation], items: Items
) -> list[Reservation]:
    """The waiting orders that wait for one of ``skus`` and can be reserved now.

    First come, first served, strictly: ``waiting`` is oldest first; each order either fits in
    what is left and is served, or keeps its claim, so a later order never takes what an earlier
    one waits for. Claims of waiting orders not in ``waiting`` count as earlier ones (safe: such
    an order at worst waits for the next try).
    """
    freed = set(skus)
    known: dict[str, int] = {}
    for reservation in waiting:
        for sku, quantity in reservation.wanted.items():
            known[sku] = known.get(sku, 0) + quantity
    left = {
        sku: item.on_hand - item.reserved - max(item.backordered - known.get(sku, 0), 0)
        for sku, item in items.items()
    }
    served = []
    for reservation in waiting:
        wanted = reservation.wanted
        if freed & wanted.keys() and all(left.get(s, 0) >= q for s, q in wanted.items()):
            served.append(reservation)
        for sku, quantity in wanted.items():
            left[sku] = left.get(sku, 0) - quantity
    return served


def covering(item: Item, open_orders: Iterable[PurchaseOrder]) -> PurchaseOrder | None:
    """The open purchase order that brings the last unit waiting orders claim of ``item``:
    what stock does not cover is met by open orders in the order they are expected."""
    needed = item.reserved + item.backordered - item.on_hand
    running = 0
    for order in sorted(open_orders, key=lambda o: (o.expected_on, o.id)):
        running += order.outstanding
        if order.outstanding and running >= needed:
            return order
    return None


def resellable(lines: Iterable[InspectedLine]) -> dict[str, int]:
    """Per SKU, the units of a customer's return that go back on the shelf. Damaged ones are
    written off: they left stock (committed) when they were dispatched, and stay gone."""
    back: dict[str, int] = {}
    for line in lines:
        if line.resellable > 0:
            back[line.sku] = back.get(line.sku, 0) + line.resellable
    return back
