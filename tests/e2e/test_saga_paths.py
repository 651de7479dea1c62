"""Every path of the saga on the real RabbitMQ and PostgreSQL, each worker its own process.

One cluster runs all scenarios at once. Durations are shrunk through the workers' settings:
carrier scans in fractions of a second, a four-second payment deadline with reminders at one and
two seconds, two seconds of picking and packing (the window in which a cancel still stops a paid
order). Each scenario checks its order's final state and the announcements it must have made;
then the workers are stopped and the four invariants audited from their own tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orderflow.audit import audit
from orderflow.catalogue import CATALOGUE, PRICES
from orderflow.channel import ChannelPublisher, submit_envelope
from orderflow.databases import WorkerDatabases
from orderflow.operations import set_stock, set_stock_policy
from orderflow.processes import ProcessCluster
from services.intake.model import Order
from shared.contracts import (
    Address,
    Message,
    Money,
    OrderCancel,
    OrderChangeAddress,
    PaymentNotification,
    StockReceive,
)
from shared.envelope import wrap
from shared.settings import Settings
from tests.support import wait_until

SHORT_TIMES = {
    "ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS": "0.3",
    "ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS": "0.6",
    "ORDERFLOW_SHIPPING_DELIVERY_ATTEMPTS": "2",
    "ORDERFLOW_SHIPPING_DELIVERY_RETRY_INTERVAL_SECONDS": "0.3",
    "ORDERFLOW_INTAKE_COMPLETION_WINDOW_SECONDS": "0.5",
    "ORDERFLOW_PAYMENT_WINDOW_SECONDS": "4",
    "ORDERFLOW_PAYMENT_REMINDER_OFFSETS_SECONDS": "[1, 2]",
    "ORDERFLOW_WAREHOUSE_PACKING_SECONDS": "2",
    "ORDERFLOW_TIMER_POLL_SECONDS": "0.05",
}
BACKORDER_SKU = "LAMP-COPPER"
STREET = {"line1": "Invalidenstr. 117", "city": "Berlin", "postal_code": "10115", "country": "DE"}
REFUSING = {**STREET, "line1": "REFUSED Str. 1"}


def order(
    external_id: str,
    lines: list[tuple[str, int]],
    method: str = "card",
    token: str | None = "tok_visa",
    channel: str = "web",
    address: dict[str, str] = STREET,
) -> dict[str, Any]:
    prices = {**PRICES, BACKORDER_SKU: 5900}
    return {
        "channel": channel,
        "external_id": external_id,
        "customer": {"name": "Test Customer", "email": "customer@example.com", "language": "en"},
        "lines": [{"sku": sku, "quantity": n, "unit_price": prices[sku]} for sku, n in lines],
        "currency": "EUR",
        "shipping_fee": 495,
        "delivery": {"option": "standard", "address": address},
        "payment": {"method": method, "token": token},
    }


class Saga:
    """What a scenario may do while the workers run: find its order, wait, send a command."""

    def __init__(self, settings: Settings, dbs: WorkerDatabases) -> None:
        self.settings = settings
        self.dbs = dbs

    def order(self, external_id: str) -> Order:
        found: list[Order] = []

        def placed() -> bool:
            with self.dbs.session("intake") as session:
                query = select(Order).where(Order.external_id == external_id)
                found[:] = session.scalars(query).all()
            return bool(found)

        wait_until(placed, 60, what=f"order {external_id}")
        return found[0]

    def announced(self, order_id: str) -> list[str]:
        return [entry.type for entry in self.dbs.timeline(order_id)]

    def wait_for(self, order_id: str, type_name: str, count: int = 1) -> None:
        wait_until(
            lambda: self.announced(order_id).count(type_name) >= count,
            60,
            what=f"{type_name} x{count} for {order_id}",
        )

    def send(self, command: Message) -> None:
        with ChannelPublisher(self.settings) as channel:
            channel.send([wrap(command, source="customer-service")])

    def pay(self, order_id: str, minor: int) -> None:
        self.send(
            PaymentNotification(
                order_id=order_id,
                notification_id=f"bank-{uuid.uuid4().hex[:12]}",
                amount=Money(amount=minor, currency="EUR"),
                received_at=datetime.now(UTC),
            )
        )


Act = Callable[[Saga, Order], None]


@dataclass
class Scenario:
    submission: dict[str, Any]
    status: str
    reason: str | None = None
    must_announce: list[str] = field(default_factory=list)
    act: Act | None = None


def pay_exactly(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "payment.pending")
    saga.pay(o.id, o.total)


def pay_in_two_parts(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "payment.pending")
    saga.pay(o.id, 1000)
    saga.wait_for(o.id, "payment.pending", count=2)
    saga.pay(o.id, o.total - 1000)


def overpay(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "payment.pending")
    saga.pay(o.id, o.total + 500)


def cancel_while_packing(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "payment.captured")
    saga.send(OrderCancel(order_id=o.id, reason="ordered the wrong colour"))


def cancel_after_dispatch(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "shipment.dispatched")
    saga.send(OrderCancel(order_id=o.id, reason="too late"))


def redirect_then_pay(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "payment.pending")
    new = Address(line1="Karl-Marx-Allee 1", city="Berlin", postal_code="10178", country="DE")
    saga.send(OrderChangeAddress(order_id=o.id, address=new, reason="moved"))
    saga.wait_for(o.id, "shipment.address_changed")
    saga.pay(o.id, o.total)


def redirect_after_dispatch(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "shipment.dispatched")
    new = Address(line1="Alexanderplatz 1", city="Berlin", postal_code="10178", country="DE")
    saga.send(OrderChangeAddress(order_id=o.id, address=new))


def receive_goods(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "stock.backordered")
    receipt = StockReceive(receipt_id="rcpt-e2e-1", sku=BACKORDER_SKU, quantity=5)
    saga.send(receipt)
    saga.send(receipt)


SCENARIOS = {
    "card": Scenario(order("P-CARD", [("MUG-BLUE", 2)]), "completed"),
    "declined": Scenario(
        order("P-DECLINE", [("MUG-BLUE", 1)], token="tok_decline_insufficient_funds"),
        "cancelled",
        "payment_failed",
        ["payment.failed", "stock.released"],
    ),
    "short": Scenario(
        order("P-SHORT", [("TRAY-OAK", 99)]), "cancelled", "out_of_stock", ["stock.unavailable"]
    ),
    "transfer": Scenario(
        order("P-BANK", [("TEA-GREEN", 2)], "bank_transfer", None),
        "completed",
        must_announce=["payment.pending", "payment.captured"],
        act=pay_exactly,
    ),
    "transfer in two parts": Scenario(
        order("P-BANK2", [("TEA-GREEN", 1)], "bank_transfer", None),
        "completed",
        act=pay_in_two_parts,
    ),
    "overpaid transfer": Scenario(
        order("P-BANK3", [("TEA-GREEN", 1)], "bank_transfer", None),
        "completed",
        must_announce=["payment.captured", "payment.refunded"],
        act=overpay,
    ),
    "unpaid transfer": Scenario(
        order("P-BANK4", [("TEA-GREEN", 1)], "bank_transfer", None),
        "cancelled",
        "payment_expired",
        ["payment.reminder", "payment.reminder", "payment.expired", "stock.released"],
    ),
    "escrow": Scenario(
        order("P-ESCROW", [("PRESS-FRENCH", 1)], "escrow", None, channel="marketplace"),
        "completed",
        act=pay_exactly,
    ),
    "cancel while packing": Scenario(
        order("P-CANCEL", [("KETTLE-STEEL", 1)]),
        "cancelled",
        "customer_cancelled",
        ["fulfillment.cancelled", "payment.refunded", "stock.released"],
        cancel_while_packing,
    ),
    "cancel after dispatch": Scenario(
        order("P-LATE", [("MUG-BLUE", 1)]),
        "completed",
        must_announce=["fulfillment.cancel_refused"],
        act=cancel_after_dispatch,
    ),
    "cash on delivery": Scenario(
        order("P-COD", [("BEANS-DARK", 1)], "cash_on_delivery", None),
        "completed",
        must_announce=["payment.deferred", "payment.captured"],
    ),
    "cash on delivery refused": Scenario(
        order("P-COD-REF", [("BEANS-DARK", 1)], "cash_on_delivery", None, address=REFUSING),
        "cancelled",
        "delivery_failed",
        ["shipment.delivery_failed", "shipment.returned", "payment.voided", "stock.restocked"],
    ),
    "card refused at the door": Scenario(
        order("P-REF", [("GRINDER-HAND", 1)], address=REFUSING),
        "cancelled",
        "delivery_failed",
        ["shipment.returned", "payment.refunded", "stock.restocked"],
    ),
    "backorder": Scenario(
        order("P-BACK", [(BACKORDER_SKU, 2)]),
        "completed",
        must_announce=["stock.backordered", "stock.reserved"],
        act=receive_goods,
    ),
    "address change": Scenario(
        order("P-ADDR", [("TEA-GREEN", 1)], "bank_transfer", None),
        "completed",
        must_announce=["shipment.address_changed"],
        act=redirect_then_pay,
    ),
    "address change too late": Scenario(
        order("P-ADDR2", [("MUG-BLUE", 1)]),
        "completed",
        must_announce=["shipment.address_change_refused"],
        act=redirect_after_dispatch,
    ),
}


@pytest.fixture
def cluster(settings: Settings, tmp_path: Path) -> Iterator[tuple[ProcessCluster, WorkerDatabases]]:
    env = {**SHORT_TIMES, "ORDERFLOW_NOTIFIER_MAILDIR": str(tmp_path / "mail")}
    processes = ProcessCluster(settings, tmp_path / "logs", env=env)
    processes.start()
    dbs = WorkerDatabases(settings)
    try:
        yield processes, dbs
    finally:
        dbs.dispose()
        processes.stop()


def test_every_path_ends_in_its_state_and_the_invariants_hold(
    settings: Settings, cluster: tuple[ProcessCluster, WorkerDatabases], tmp_path: Path
) -> None:
    processes, dbs = cluster
    for product in CATALOGUE:
        set_stock(settings, product.sku, 100, product.location, product.weight_grams)
    set_stock(settings, "TRAY-OAK", 3, None, None)
    set_stock(settings, BACKORDER_SKU, 0, "E-01-01", 800)
    set_stock_policy(settings, BACKORDER_SKU, True, None, None, 3)
    saga = Saga(settings, dbs)

    with ChannelPublisher(settings) as channel:
        channel.send([submit_envelope(s.submission) for s in SCENARIOS.values()])
    with ThreadPoolExecutor(max_workers=len(SCENARIOS)) as pool:
        acting = [
            pool.submit(s.act, saga, saga.order(s.submission["external_id"]))
            for s in SCENARIOS.values()
            if s.act is not None
        ]
        for done in acting:
            done.result()

    orders = {name: saga.order(s.submission["external_id"]) for name, s in SCENARIOS.items()}

    def all_ended() -> bool:
        with dbs.session("intake") as session:
            states = {
                name: session.get(Order, o.id).status  # type: ignore[union-attr]
                for name, o in orders.items()
            }
        return all(state in ("completed", "cancelled", "rejected") for state in states.values())

    wait_until(all_ended, 90, what="every scenario to end")
    assert set(processes.stop().values()) == {0}
    report = audit(dbs)
    assert report.violations == []

    outcomes = {}
    with dbs.session("intake") as session:
        for name, o in orders.items():
            final = session.get(Order, o.id)
            assert final is not None
            outcomes[name] = (final.status, final.cancel_reason)
    expected = {name: (s.status, s.reason) for name, s in SCENARIOS.items()}
    assert outcomes == expected
    for name, scenario in SCENARIOS.items():
        announced = saga.announced(orders[name].id)
        missing = [
            t
            for t in scenario.must_announce
            if announced.count(t) < scenario.must_announce.count(t)
        ]
        assert missing == [], f"{name}: never announced {missing}; got {announced}"
    mails = list((tmp_path / "mail" / "new").iterdir())
    assert mails, "the notifier delivered no e-mail"
