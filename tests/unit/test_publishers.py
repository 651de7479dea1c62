"""Each worker's bootstrap declares what it publishes, and the declaration holds both ways.

Every test checks the one way (``tests/publications.py``): a handler, an operator action or
after-commit work that announces a type its worker does not declare fails the test it runs in.
Here: that check is in place and bites, and every declared type is one the worker makes.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from orderflow.cluster.registry import NAMES, build
from services.notifier.delivery import Courier
from services.stock import admin
from services.warehouse import handlers
from services.warehouse.bootstrap import bootstrap
from services.warehouse.store import WarehouseUnitOfWork
from shared.contracts import (
    REGISTRY,
    FulfillmentPackingDue,
    OrderCancel,
    PaymentCaptured,
    ReservedLine,
    StockReserved,
)
from shared.service import Service
from shared.timers import Scheduled
from tests.publications import WATCH, Announced, Watch

SERVICES = Path(__file__).resolve().parents[2] / "services"
RESERVED = StockReserved(
    order_id="ord-1",
    lines=[ReservedLine(sku="MUG-BLUE", quantity=1, location="A-01-02", unit_weight_grams=350)],
)


def test_every_way_a_worker_announces_is_watched_in_the_tests() -> None:
    watched = [
        handlers.on_payment_captured,
        handlers.HANDLERS[PaymentCaptured],
        bootstrap().handlers[PaymentCaptured].func,
        admin.set_level,
        Courier.__call__,
    ]

    assert all(hasattr(function, "__wrapped__") for function in watched)


def test_an_announcement_its_worker_does_not_declare_is_found() -> None:
    watch = Watch(services={"warehouse": build("warehouse")})
    due = FulfillmentPackingDue(order_id="ord-1")

    watch.record("warehouse", "on_order_cancel", [Scheduled(due, due=_now())])
    assert watch.undeclared() == []
    watch.record("warehouse", "on_order_cancel", [RESERVED, Scheduled(RESERVED, due=_now())])
    assert watch.undeclared() == [
        "warehouse: on_order_cancel announced stock.reserved, which it does not declare"
    ]


def test_what_a_handler_returns_in_a_test_is_recorded(
    session_for: Callable[[Service], Session],
) -> None:
    service = bootstrap()
    uow = WarehouseUnitOfWork(session_for(service))
    cancel = OrderCancel(order_id="ord-1", reason="ordered twice")

    [cancelled] = service.handlers[OrderCancel](cancel, uow)

    assert WATCH.seen[-1] == Announced("warehouse", "on_order_cancel", cancelled)


@pytest.mark.parametrize("name", NAMES)
def test_a_worker_declares_only_what_its_code_makes(name: str) -> None:
    made = made_in(SERVICES / name)
    declared = {contract.__name__ for contract in build(name).publishes}

    made_messages = made & {contract.__name__ for contract in REGISTRY.values()}
    assert declared or not made_messages, f"{name} declares nothing it publishes"
    assert declared - made == set()


@pytest.mark.parametrize("name", NAMES)
def test_a_worker_publishes_events_only(name: str) -> None:
    """Commands come from outside; a timer a worker schedules stays with it."""
    kinds = {contract.type: contract.kind for contract in build(name).publishes}

    assert {type_name for type_name, kind in kinds.items() if kind != "event"} == set()


def made_in(package: Path) -> set[str]:
    """The classes a package calls (``Shipped(...)``, ``Shipped.model_validate(...)``) outside
    its bootstrap, where ``publishes`` names them."""
    found: set[str] = set()
    for source in package.glob("*.py"):
        if source.name == "bootstrap.py":
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.Call):
                continue
            called = node.func
            if isinstance(called, ast.Attribute) and called.attr == "model_validate":
                called = called.value
            if isinstance(called, ast.Name):
                found.add(called.id)
    return found


def _now() -> datetime:
    return datetime(2026, 3, 2, tzinfo=UTC)
