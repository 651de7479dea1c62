"""Operator actions on stock, run by the CLI in a transaction of stock's own database."""

from __future__ import annotations

from datetime import datetime

from .model import Item, Movement
from .store import StockUnitOfWork


class StockError(ValueError):
    """An operator action stock refuses, with the reason in words."""


def set_level(
    uow: StockUnitOfWork,
    sku: str,
    on_hand: int,
    at: datetime,
    location: str | None = None,
    weight_grams: int | None = None,
) -> Item:
    """Set a SKU's on-hand count after a stock take; the difference goes to the ledger."""
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
    return item
