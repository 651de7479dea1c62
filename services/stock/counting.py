"""A physical count reconciled with the books, in stock's own transaction.

Each counted SKU's on-hand stock becomes what is on the shelf; the difference goes to the ledger
with its reason (found, lost, damaged) and the count id as reference, so on hand still equals
the sum of the ledger. Where the shelf now holds less than open reservations hold, reservations
lose their units, newest first, each order as a whole (a reservation is all or nothing), until
what stays reserved fits: the oldest orders keep their goods, as first come, first served does
for waiting orders, and the newest are the least far along (the least likely to be paid for or
picked). Each such order is released and announced ``stock.unavailable``, the shortage path
every worker knows: intake cancels it as ``out_of_stock``, payment voids or refunds, the
warehouse closes its fulfilment, after-sales refunds a replacement instead. It is not put back
to wait (a backorder): the warehouse has its pick list and payment may have taken the money,
and neither has a way back to waiting.

Orders that wait keep their claims; a count that leaves them uncovered buys what they lack
(``replenish``), and one that finds more serves them (``retry_waiting``). A count is applied
once per count id.

Units packed into parcels that have not left (stock heard ``fulfillment.packed`` but not yet
``shipment.dispatched``) are on hand and reserved, but off the shelf: the shelf is compared with
on hand less those units, and a packed order is never cut (its goods are in its parcels, and
packing is the handover the warehouse can no longer stop).

A shelf is compared with the books as they stood when it was counted (each line's
``counted_at``): what the ledger moved since (goods received, dispatched, returned) is taken
off on hand, and the units in parcels are those packed by then and dispatched, if at all,
after. Packing and dispatch are dated by the warehouse's and the carrier's events, not by when
stock heard them. The difference found then is posted now: everything since is in the books
already. A line without ``counted_at`` is compared with the books as stock finds them when it
applies the count.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.clock import Clock
from shared.contracts import (
    AdjustmentReason,
    CountedLine,
    CountedSku,
    Shortage,
    StockAdjusted,
    StockCount,
    StockReleased,
    StockUnavailable,
)
from shared.errors import PermanentError

from .model import Item, Items, Movement, Reservation
from .store import StockUnitOfWork
from .supply import CountRecord
from .waiting import Results, replenish, retry_waiting

SHORT_AFTER_COUNT = "short_after_count"
"""The reason of ``stock.released`` for an order whose goods a count did not find."""


def on_stock_count(command: StockCount, uow: StockUnitOfWork, clock: Clock) -> Results:
    if uow.counts.get(command.count_id) is not None:
        return []
    counted = {line.sku for line in command.lines}
    holding = uow.reservations.holding(counted)
    items = uow.items.lock(counted.union(*(r.wanted for r in holding)))
    unknown = sorted(counted - items.keys())
    if unknown:
        raise PermanentError(f"sku: {', '.join(unknown)} is not stocked; set its level first")
    now = clock.now()
    books = books_when_counted(uow, command.lines, items, holding, now)
    lines = [reconcile(items[line.sku], line, books[line.sku]) for line in command.lines]
    adjusted = [_adjust(uow, items[line.sku], line, command.count_id, now) for line in lines]
    overdrawn = {sku for sku in counted if items[sku].reserved > items[sku].on_hand}
    on_shelf = [r for r in holding if not r.in_parcels]
    short = short_reservations(on_shelf, items, overdrawn)
    unavailable = [m for r in short for m in _release_short(r, items, overdrawn, now)]
    record = CountRecord(
        count_id=command.count_id,
        lines=lines,
        short_orders=[r.order_id for r in short],
        counted_at=now,
    )
    uow.counts.add(record)
    return [
        record.announcement(),
        *(event for event in adjusted if event is not None),
        *unavailable,
        *retry_waiting(items.values(), now),
        *replenish(uow, items.values(), now),
    ]


@dataclass(frozen=True)
class Books:
    """A SKU's books at the moment its shelf was counted."""

    on_hand: int
    in_parcels: int
    """Units of it packed into parcels then, and not yet dispatched: off the shelf."""


def books_when_counted(
    uow: StockUnitOfWork,
    lines: Sequence[CountedSku],
    items: Items,
    holding: Sequence[Reservation],
    now: datetime,
) -> dict[str, Books]:
    """Each counted SKU's books as they stood when its shelf was counted (``counted_at``; now
    if the line does not say, or says a time to come): on hand less what the ledger moved
    since, and the units in parcels then, packed by that moment and dispatched, if at all,
    after it."""
    moments = {line.sku: min(line.counted_at or now, now) for line in lines}
    earliest = min(moments.values())
    later = [
        entry
        for entry in (uow.items.moved_after(moments, earliest) if earliest < now else [])
        if entry.at > moments[entry.sku]
    ]
    left_later = {
        (e.order_id, e.sku) for e in later if e.movement == Movement.COMMITTED and e.order_id
    }
    dispatched = uow.reservations.read({order_id for order_id, _ in left_later})
    books = {}
    for sku, moment in moments.items():
        packed = [r for r in holding if r.in_parcels] + [
            r for r in dispatched if (r.order_id, sku) in left_later
        ]
        books[sku] = Books(
            on_hand=items[sku].on_hand - sum(e.quantity for e in later if e.sku == sku),
            in_parcels=sum(
                r.wanted.get(sku, 0)
                for r in packed
                if r.packed_at is not None and r.packed_at <= moment
            ),
        )
    return books


def reconcile(item: Item, line: CountedSku, books: Books) -> CountedLine:
    """The count of one SKU against what its books put on the shelf when it was counted (on
    hand, less the units in parcels), and why they differ: more is ``found``; less is what the
    line says (``lost`` unless ``damaged``). The bin moves where the count says."""
    if line.location:
        item.location = line.location
    difference = line.counted - (books.on_hand - books.in_parcels)
    reason = None
    if difference > 0:
        reason = AdjustmentReason.FOUND
    elif difference < 0:
        reason = AdjustmentReason(line.reason or AdjustmentReason.LOST)
    return CountedLine(
        sku=item.sku,
        books=books.on_hand,
        in_parcels=books.in_parcels,
        counted=line.counted,
        difference=difference,
        reason=reason,
        counted_at=line.counted_at,
    )


def short_reservations(
    holding: Sequence[Reservation], items: Items, overdrawn: Collection[str]
) -> list[Reservation]:
    """The reservations that lose their units: newest first, whole orders, until each SKU of
    ``overdrawn`` holds no more reserved than on hand. ``holding`` are the orders whose goods
    are on the shelf: those in parcels keep theirs (counted on hand, and reserved, as in parcels,
    they add as much to one as to the other)."""
    over = {sku: items[sku].reserved - items[sku].on_hand for sku in overdrawn}
    short = []
    newest_first = sorted(holding, key=lambda r: (r.updated_at, r.order_id), reverse=True)
    for reservation in newest_first:
        wanted = reservation.wanted
        if any(over.get(sku, 0) > 0 for sku in wanted):
            short.append(reservation)
            for sku, quantity in wanted.items():
                if sku in over:
                    over[sku] -= quantity
    return short


def _adjust(
    uow: StockUnitOfWork, item: Item, line: CountedLine, count_id: str, now: datetime
) -> StockAdjusted | None:
    if line.reason is None:
        return None
    uow.items.record([item.move(Movement(line.reason), line.difference, count_id, now)])
    return StockAdjusted(
        sku=item.sku,
        count_id=count_id,
        quantity=line.difference,
        on_hand=item.on_hand,
        reason=line.reason,
    )


def _release_short(
    reservation: Reservation, items: Items, overdrawn: Collection[str], now: datetime
) -> Results:
    """Give back the whole reservation; the order goes down the shortage path."""
    reservation.release(items, now)
    shortages = [
        Shortage(sku=sku, requested=quantity, available=max(items[sku].available, 0))
        for sku, quantity in sorted(reservation.wanted.items())
        if sku in overdrawn
    ]
    return [
        StockReleased(order_id=reservation.order_id, reason=SHORT_AFTER_COUNT),
        StockUnavailable(order_id=reservation.order_id, shortages=shortages),
    ]
