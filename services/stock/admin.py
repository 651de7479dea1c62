"""Operator actions on stock, run by the CLI in a transaction of stock's own database."""

from __future__ import annotations

from datetime import datetime

from shared.actions import Done
from shared.contracts import StockItemListed

from .model import Item, Movement
from .store import StockUnitOfWork

MAX_LEAD_TIME_DAYS = 365


class StockError(ValueError):
    """An operator action stock refuses, with the reason in words."""


def set_level(
    uow: StockUnitOfWork,
    sku: str,
    on_hand: int,
    at: datetime,
    location: str | None = None,
    weight_grams: int | None = None,
) -> Done[Item]:
    """Set a SKU's on-hand count as the books hold it (on the shelves and in parcels packed but
    not dispatched: ``services.stock.counting`` reconciles a count of the shelves alone); the
    difference goes to the ledger.

    The SKU is announced as listed every time, new or not: intake knows what stock keeps only
    from these announcements (a repeat changes nothing there, and makes up for a lost one)."""
    if on_hand < 0:
        raise StockError(f"quantity: must be 0 or more, got {on_hand}")
    item = uow.items.get(sku)
    if item is None:
        item = Item(sku=sku, on_hand=0, reserved=0)
        item.location = location or "A-01-01"
        item.weight_grams = weight_grams or 500
        uow.items.add(item)
    if on_hand < item.reserved:
        raise StockError(
            f"quantity: {sku} has {item.reserved} reserved for open orders; "
            f"cannot set on hand to {on_hand}"
        )
    if location:
        item.location = location
    if weight_grams:
        item.weight_grams = weight_grams
    if on_hand != item.on_hand:
        uow.items.move(item, Movement.ADJUSTED, on_hand - item.on_hand, None, at)
    return Done(item, [StockItemListed(sku=sku)])


def set_policy(
    uow: StockUnitOfWork,
    sku: str,
    *,
    backorder_allowed: bool | None = None,
    reorder_point: int | None = None,
    reorder_quantity: int | None = None,
    lead_time_days: int | None = None,
) -> Item:
    """Set how a SKU is bought: whether orders may wait for it, when to reorder and how much,
    and how long its supplier takes. Fields left as None keep their value."""
    item = uow.items.get(sku)
    if item is None:
        raise StockError(f"sku: {sku} is not stocked; set its level first")
    for field, value in (
        ("reorder_point", reorder_point),
        ("reorder_quantity", reorder_quantity),
        ("lead_time_days", lead_time_days),
    ):
        if value is not None and value < 0:
            raise StockError(f"{field}: must be 0 or more, got {value}")
    if lead_time_days is not None and lead_time_days > MAX_LEAD_TIME_DAYS:
        raise StockError(
            f"lead_time_days: must be at most {MAX_LEAD_TIME_DAYS}, got {lead_time_days}"
        )
    point = item.reorder_point if reorder_point is None else reorder_point
    quantity = item.reorder_quantity if reorder_quantity is None else reorder_quantity
    if point > 0 and quantity == 0:
        raise StockError(f"reorder_quantity: must be more than 0 when the reorder point is {point}")
    if backorder_allowed is not None:
        item.backorder_allowed = backorder_allowed
    item.reorder_point, item.reorder_quantity = point, quantity
    if lead_time_days is not None:
        item.lead_time_days = lead_time_days
    return item
