"""Orders that wait for goods: backorders, purchase orders, receipts and stock's own timers.

An order waits when its short SKUs all allow backorders. It claims its lines ahead of later
orders, a purchase order covers what is missing, and a timer gives up at ``expires_on``. Goods
received (or stock freed) serve the waiting orders oldest first (``rules.servable``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta

from shared.clock import Clock
from shared.contracts import (
    BackorderedLine,
    Message,
    StockBackorderDue,
    StockBackordered,
    StockBackorderExpired,
    StockReceive,
    StockReplenishmentRequested,
    StockReserved,
    StockWaitlistDue,
)
from shared.errors import PermanentError
from shared.timers import Scheduled

from .model import Item, Items, Movement, Reservation
from .rules import Allocation, covering, servable
from .store import StockUnitOfWork
from .supply import Backorder, PurchaseOrder, Receipt, new_purchase_order_id

Results = list[Message | Scheduled]


def backorder(
    order_id: str,
    allocation: Allocation,
    uow: StockUnitOfWork,
    items: Items,
    now: datetime,
    grace: timedelta,
) -> Results:
    """The order waits: it claims its lines, a purchase order brings each short SKU, and a
    timer gives up ``grace`` after the last expected date."""
    uow.reservations.add(Reservation.wait(order_id, allocation.reserved, items, now))
    announced: Results = list(replenish(uow, items.values(), now))
    lines = []
    for shortage in allocation.shortages:
        order, bought = _supplier_order(uow, items[shortage.sku], now)
        announced += bought
        expected = max(order.expected_on, now.date())
        lines.append(
            BackorderedLine(
                sku=shortage.sku,
                quantity=shortage.requested,
                purchase_order_id=order.id,
                expected_on=expected,
            )
        )
    expected_on = max(line.expected_on for line in lines)
    expires_on = expected_on + grace
    short = {line.sku: line for line in lines}
    uow.backorders.add(
        [
            Backorder(
                order_id=order_id,
                sku=line.sku,
                quantity=line.quantity,
                arrived_at=now,
                expires_on=expires_on,
                purchase_order_id=short[line.sku].purchase_order_id if line.sku in short else None,
                expected_on=short[line.sku].expected_on if line.sku in short else None,
            )
            for line in allocation.reserved
        ]
    )
    waiting = StockBackordered(
        order_id=order_id, lines=lines, expected_on=expected_on, expires_on=expires_on
    )
    due = datetime.combine(expires_on, time.min, tzinfo=UTC)
    return [waiting, *announced, Scheduled(StockBackorderDue(order_id=order_id), due)]


def _supplier_order(
    uow: StockUnitOfWork, item: Item, now: datetime
) -> tuple[PurchaseOrder, list[StockReplenishmentRequested]]:
    """The open purchase order that brings a waiting order's goods (``replenish`` bought what
    was missing); if the open orders this transaction sees fall short, one for the rest."""
    open_orders = uow.purchase_orders.open_for(item.sku)
    order = covering(item, open_orders)
    if order is not None:
        return order, []
    needed = item.reserved + item.backordered - item.on_hand
    missing = needed - sum(o.outstanding for o in open_orders)
    order, requested = _buy(uow, item, max(missing, 1), now)
    return order, [requested]


def on_stock_receive(command: StockReceive, uow: StockUnitOfWork, clock: Clock) -> Results:
    """Goods arrived: on hand grows, the purchase order is filled, waiting orders are served."""
    if uow.receipts.get(command.receipt_id) is not None:
        return []
    item = uow.items.get(command.sku)
    if item is None:
        raise PermanentError(f"sku: {command.sku} is not stocked; set its level first")
    orders = uow.purchase_orders.open_for(command.sku)
    if command.purchase_order_id is not None:
        named = uow.purchase_orders.get(command.purchase_order_id)
        if named is None or named.sku != command.sku:
            raise PermanentError(
                f"purchase_order_id: no purchase order {command.purchase_order_id} "
                f"for {command.sku}"
            )
        orders = [named]
    now = clock.now()
    uow.receipts.add(
        Receipt(
            receipt_id=command.receipt_id,
            sku=command.sku,
            quantity=command.quantity,
            purchase_order_id=command.purchase_order_id,
            received_at=now,
        )
    )
    uow.items.record([item.move(Movement.RECEIVED, command.quantity, None, now)])
    left = command.quantity
    for order in orders:
        left -= order.receive(left, item)
    return serve_waiting(uow, [command.sku], now)


def on_stock_waitlist_due(timer: StockWaitlistDue, uow: StockUnitOfWork, clock: Clock) -> Results:
    return serve_waiting(uow, [timer.sku], clock.now())


def on_stock_backorder_due(timer: StockBackorderDue, uow: StockUnitOfWork, clock: Clock) -> Results:
    """The goods did not come in time: an order that still waits gives up."""
    reservation = uow.reservations.get(timer.order_id)
    if reservation is None:
        return []
    items = uow.items.lock(reservation.wanted)
    if not reservation.expire(items, clock.now()):
        return []
    uow.backorders.remove(timer.order_id)
    expired = StockBackorderExpired(order_id=timer.order_id)
    return [expired, *retry_waiting(items.values(), clock.now())]


def serve_waiting(uow: StockUnitOfWork, skus: Iterable[str], now: datetime) -> Results:
    """Reserve, oldest first, the waiting orders for ``skus`` whose every line now fits."""
    skus = set(skus)
    waiting = uow.reservations.waiting(uow.backorders.queue(skus))
    items = uow.items.lock(skus.union(*(r.wanted for r in waiting)))
    announced: Results = []
    touched: dict[str, Item] = {}
    for reservation in servable(skus, waiting, items):
        lines = reservation.serve(items, now)
        uow.backorders.remove(reservation.order_id)
        announced.append(StockReserved(order_id=reservation.order_id, lines=lines))
        touched.update((line.sku, items[line.sku]) for line in lines)
    return [*announced, *replenish(uow, touched.values(), now)]


def retry_waiting(items: Iterable[Item], now: datetime) -> list[Scheduled]:
    """Stock was freed: where orders wait for a SKU, a timer due now serves them."""
    return [
        Scheduled(StockWaitlistDue(sku=item.sku), now)
        for item in sorted(items, key=lambda i: i.sku)
        if item.backordered > 0
    ]


def replenish(
    uow: StockUnitOfWork, items: Iterable[Item], now: datetime
) -> list[StockReplenishmentRequested]:
    """Buy what waiting orders lack and what a reorder point asks for."""
    requested = []
    for item in sorted(items, key=lambda i: i.sku):
        quantity = item.purchase_needed()
        if quantity > 0:
            requested.append(_buy(uow, item, quantity, now)[1])
    return requested


def _buy(
    uow: StockUnitOfWork, item: Item, quantity: int, now: datetime
) -> tuple[PurchaseOrder, StockReplenishmentRequested]:
    order = PurchaseOrder.place(new_purchase_order_id(), item, quantity, now.date(), now)
    uow.purchase_orders.add(order)
    return order, StockReplenishmentRequested(
        sku=item.sku, purchase_order_id=order.id, quantity=quantity, expected_on=order.expected_on
    )
