"""Operator actions that change one worker's own data, in that worker's database, announcing
the change through its outbox (``shared.actions``)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from services.intake.store import IntakeUnitOfWork
from services.stock.admin import StockError, set_level, set_policy
from services.stock.model import Item
from services.stock.store import StockUnitOfWork
from shared.actions import Done, OutsideRelay, operate
from shared.clock import Clock, SystemClock
from shared.settings import Settings

from ..cluster.databases import WorkerDatabases
from ..cluster.registry import build

SKU = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,63}$")


class StockRefused(ValueError):
    pass


StockAction = Callable[[StockUnitOfWork], Done[Item]]
"""An operator action on stock's unit of work; ``operate`` runs it (``shared.actions``)."""


def stock_level(
    sku: str, quantity: int, location: str | None, weight_grams: int | None, clock: Clock
) -> StockAction:
    """``orderflow stock set``: a SKU's on-hand count after a stock take, and where it lies."""
    if not SKU.match(sku):
        raise StockRefused(f"sku: {sku!r} must be upper-case letters, digits and dashes")
    if weight_grams is not None and weight_grams <= 0:
        raise StockRefused(f"weight-grams: must be more than 0, got {weight_grams}")
    return lambda uow: set_level(uow, sku, quantity, clock.now(), location, weight_grams)


def stock_policy(
    sku: str,
    backorder_allowed: bool | None,
    reorder_point: int | None,
    reorder_quantity: int | None,
    lead_time_days: int | None,
) -> StockAction:
    """``orderflow stock policy``: how a SKU is bought; None keeps a field's value."""
    return lambda uow: Done(
        set_policy(
            uow,
            sku,
            backorder_allowed=backorder_allowed,
            reorder_point=reorder_point,
            reorder_quantity=reorder_quantity,
            lead_time_days=lead_time_days,
        )
    )


def on_stock(run: Callable[[StockAction], Item], action: StockAction) -> Item:
    """Run a stock action through ``run`` (the CLI's ``operate`` or a running worker's), with
    stock's refusal in the words the CLI shows."""
    try:
        return run(action)
    except StockError as error:
        raise StockRefused(str(error)) from None


def set_stock(
    settings: Settings, sku: str, quantity: int, location: str | None, weight_grams: int | None
) -> Item:
    clock = SystemClock()
    return stock_from_outside(
        settings, stock_level(sku, quantity, location, weight_grams, clock), clock
    )


def set_stock_policy(
    settings: Settings,
    sku: str,
    backorder_allowed: bool | None,
    reorder_point: int | None,
    reorder_quantity: int | None,
    lead_time_days: int | None,
) -> Item:
    action = stock_policy(sku, backorder_allowed, reorder_point, reorder_quantity, lead_time_days)
    return stock_from_outside(settings, action, SystemClock())


def stock_from_outside(settings: Settings, action: StockAction, clock: Clock) -> Item:
    """Run ``action`` in stock's database from a process that does not run stock (the CLI)."""
    dbs = WorkerDatabases(settings, ["stock"])
    try:
        stock = build("stock")
        relay = OutsideRelay("stock", settings)
        return on_stock(
            lambda act: operate(stock, dbs.sessions["stock"], act, relay, clock), action
        )
    finally:
        dbs.dispose()


def unlisted_at_intake(intake: sessionmaker[Session], skus: Iterable[str]) -> set[str]:
    """Those of ``skus`` intake's catalogue lacks (``intake``: its database): stock never
    listed them, or intake has not heard yet. Orders for them would be rejected."""
    wanted = set(skus)
    with intake() as session:
        return wanted - IntakeUnitOfWork(session).catalogue.listed(wanted)


def await_listed(settings: Settings, skus: Iterable[str], timeout: float = 30.0) -> None:
    """Wait until intake knows every SKU of ``skus`` (set with ``set_stock``), so orders for
    them are judged on their merits; ``TimeoutError`` naming those it still does not know."""
    wanted = set(skus)
    dbs = WorkerDatabases(settings, ["intake"])
    deadline = time.monotonic() + timeout
    try:
        while missing := unlisted_at_intake(dbs.sessions["intake"], wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"intake does not know {', '.join(sorted(missing))} after {timeout:g}s; "
                    "are the stock and intake workers running?"
                )
            time.sleep(0.05)
    finally:
        dbs.dispose()
