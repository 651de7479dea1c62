"""Every path of the saga on the real RabbitMQ and PostgreSQL, each worker its own process.

One cluster runs all scenarios at once. Durations are shrunk through the workers' settings:
carrier scans in fractions of a second, a four-second payment deadline with reminders at one and
two seconds, two seconds of picking and packing (the window in which a cancel still stops a paid
order), five seconds of return window before a delivered order completes, and three seconds for
an RMA's goods to come back. After-sales cases (returns, exchanges, a resend) act on delivered
orders; a replacement is an order of its own (``<order>.<n>``), and its announcements are part of
its order's timeline. Each scenario checks its order's final state and the announcements it must
have made; then the workers are stopped and the four invariants audited from their own tables.
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
from orderflow.operations import await_listed, set_stock, set_stock_policy
from orderflow.processes import ProcessCluster
from services.intake.model import Order
from shared.contracts import (
    Address,
    InspectedLine,
    ItemQuantity,
    Message,
    Money,
    OrderCancel,
    OrderChangeAddress,
    PaymentNotification,
    ResendRequest,
    Resolution,
    ReturnReceive,
    ReturnRequest,
    StockReceive,
)
from shared.envelope import wrap
from shared.settings import Settings
from tests.support import started_cluster, wait_until

SHORT_TIMES = {
    "ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS": "0.3",
    "ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS": "0.6",
    "ORDERFLOW_SHIPPING_DELIVERY_ATTEMPTS": "2",
    "ORDERFLOW_SHIPPING_DELIVERY_RETRY_INTERVAL_SECONDS": "0.3",
    "ORDERFLOW_INTAKE_COMPLETION_WINDOW_SECONDS": "5",
    "ORDERFLOW_AFTERSALES_RETURN_WINDOW_SECONDS": "5",
    "ORDERFLOW_AFTERSALES_SEND_BACK_SECONDS": "3",
    "ORDERFLOW_PAYMENT_WINDOW_SECONDS": "4",
    "ORDERFLOW_PAYMENT_REMINDER_OFFSETS_SECONDS": "[1, 2]",
    "ORDERFLOW_WAREHOUSE_PACKING_SECONDS": "2",
    "ORDERFLOW_TIMER_POLL_SECONDS": "0.05",
}
BACKORDER_SKU = "LAMP-COPPER"
WAITING_SKU = "CLOCK-WALL"
"""None on the shelf, backorders allowed, and no goods ever come: its order waits."""
REORDERED_SKU = "FILTER-PAPER"
"""Ten on the shelf and a reorder point of eight: selling three raises a replenishment request."""
LAST_ONE_SKU = "VASE-GLASS"
"""One on the shelf: once it is sold, an exchange finds none to send."""
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
    prices = {
        **PRICES,
        BACKORDER_SKU: 5900,
        LAST_ONE_SKU: 2500,
        WAITING_SKU: 3200,
        REORDERED_SKU: 450,
    }
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

    def resubmit(self, submission: dict[str, Any]) -> None:
        with ChannelPublisher(self.settings) as channel:
            channel.send([submit_envelope(submission)])

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


def correct_and_resubmit(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "order.rejected")
    saga.resubmit(order("P-FIX", [("MUG-BLUE", 1)]))


def cancel_while_backordered(saga: Saga, o: Order) -> None:
    """The order waits for goods: the warehouse has not heard of it and leaves a tombstone."""
    saga.wait_for(o.id, "stock.backordered")
    saga.send(OrderCancel(order_id=o.id, reason="cannot wait that long"))


def send_back(resolution: Resolution = Resolution.REFUND, **inspected: tuple[int, int]) -> Act:
    """After delivery, ask for an RMA for what ``inspected`` names, then let the parcel arrive
    and be inspected as (resellable, damaged) per SKU; (0, 0) asks for one unit that never
    comes back."""

    def act(saga: Saga, o: Order) -> None:
        saga.wait_for(o.id, "shipment.delivered")
        lines = [ItemQuantity(sku=_sku(sku), quantity=sum(n) or 1) for sku, n in inspected.items()]
        saga.send(
            ReturnRequest(
                order_id=o.id,
                request_id=f"rq-{o.id}",
                resolution=resolution,
                lines=lines,
                reason="not as described",
            )
        )
        saga.wait_for(o.id, "return.authorized")
        came = [
            InspectedLine(sku=_sku(sku), resellable=good, damaged=bad)
            for sku, (good, bad) in inspected.items()
            if good + bad
        ]
        if came:
            saga.send(ReturnReceive(order_id=o.id, rma=f"{o.id}.1", lines=came))

    return act


def ask_too_much(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "shipment.delivered")
    too_many = [ItemQuantity(sku="MUG-BLUE", quantity=5)]
    saga.send(ReturnRequest(order_id=o.id, request_id="rq-x", lines=too_many, reason="all"))


def report_missing(saga: Saga, o: Order) -> None:
    saga.wait_for(o.id, "shipment.delivered")
    missing = [ItemQuantity(sku="TEA-GREEN", quantity=1)]
    saga.send(ResendRequest(order_id=o.id, request_id="rs-1", lines=missing, reason="missing"))


def _sku(name: str) -> str:
    return name.replace("_", "-")


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
    "corrected": Scenario(
        {**order("P-FIX", [("MUG-BLUE", 1)]), "customer": {"name": "X", "email": "not-an-email"}},
        "completed",
        must_announce=["order.rejected", "order.placed"],
        act=correct_and_resubmit,
    ),
    "flaky gateway": Scenario(
        order("P-FLAKY", [("MUG-BLUE", 1)], token="tok_transient"), "completed"
    ),
    "cancel while waiting for goods": Scenario(
        order("P-WAIT", [(WAITING_SKU, 1)]),
        "cancelled",
        "customer_cancelled",
        ["stock.backordered", "fulfillment.cancelled", "stock.released"],
        cancel_while_backordered,
    ),
    "reorder point": Scenario(order("P-REORDER", [(REORDERED_SKU, 3)]), "completed"),
    "full return": Scenario(
        order("P-RET", [("PRESS-FRENCH", 1)]),
        "returned",
        must_announce=[
            "return.authorized",
            "return.received",
            "refund.requested",
            "payment.refunded",
            "stock.restocked",
            "aftersales.case_closed",
        ],
        act=send_back(PRESS_FRENCH=(1, 0)),
    ),
    "partial return, one damaged": Scenario(
        order("P-RET2", [("MUG-BLUE", 2), ("TEA-GREEN", 1)]),
        "completed",
        must_announce=["return.received", "payment.refunded", "stock.restocked"],
        act=send_back(MUG_BLUE=(1, 1)),
    ),
    "exchange": Scenario(
        order("P-EXCH", [("KETTLE-STEEL", 1)]),
        "completed",
        must_announce=[
            "replacement.requested",
            "shipment.delivered",
            "shipment.delivered",
            "aftersales.case_closed",
        ],
        act=send_back(Resolution.EXCHANGE, KETTLE_STEEL=(1, 0)),
    ),
    "exchange with none left": Scenario(
        order("P-EXCH2", [(LAST_ONE_SKU, 1)]),
        "returned",  # its only unit came back and was refunded instead, shipping included
        must_announce=["stock.unavailable", "refund.requested", "payment.refunded"],
        act=send_back(Resolution.EXCHANGE, VASE_GLASS=(0, 1)),
    ),
    "resend": Scenario(
        order("P-RESEND", [("TEA-GREEN", 3)]),
        "completed",
        must_announce=["replacement.requested", "shipment.delivered", "shipment.delivered"],
        act=report_missing,
    ),
    "rma expired": Scenario(
        order("P-RMA", [("BEANS-DARK", 1)]),
        "completed",
        must_announce=["return.authorized", "return.expired"],
        act=send_back(BEANS_DARK=(0, 0)),
    ),
    "return refused": Scenario(
        order("P-RET-NO", [("MUG-BLUE", 1)]),
        "completed",
        must_announce=["aftersales.request_refused"],
        act=ask_too_much,
    ),
}


@pytest.fixture
def cluster(settings: Settings, tmp_path: Path) -> Iterator[tuple[ProcessCluster, WorkerDatabases]]:
    with started_cluster(settings, tmp_path, SHORT_TIMES) as running:
        yield running


def test_every_path_ends_in_its_state_and_the_invariants_hold(
    settings: Settings, cluster: tuple[ProcessCluster, WorkerDatabases], tmp_path: Path
) -> None:
    processes, dbs = cluster
    for product in CATALOGUE:
        set_stock(settings, product.sku, 100, product.location, product.weight_grams)
    set_stock(settings, "TRAY-OAK", 3, None, None)
    set_stock(settings, BACKORDER_SKU, 0, "E-01-01", 800)
    set_stock(settings, LAST_ONE_SKU, 1, "E-02-01", 600)
    set_stock(settings, WAITING_SKU, 0, "E-03-01", 900)
    set_stock_policy(settings, WAITING_SKU, True, None, None, 30)
    set_stock(settings, REORDERED_SKU, 10, "E-04-01", 80)
    set_stock_policy(settings, REORDERED_SKU, None, 8, 50, 5)
    set_stock_policy(settings, BACKORDER_SKU, True, None, None, 3)
    await_listed(
        settings,
        [p.sku for p in CATALOGUE] + [BACKORDER_SKU, LAST_ONE_SKU, WAITING_SKU, REORDERED_SKU],
    )
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
        ended = ("completed", "returned", "cancelled", "rejected")
        return all(state in ended for state in states.values())

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
    sku_timeline = dbs.timeline(f"sku:{REORDERED_SKU}")
    asked_to_buy = [e for e in sku_timeline if e.type != "stock.item_listed"]
    assert [e.type for e in asked_to_buy] == ["stock.replenishment_requested"]
    assert asked_to_buy[0].data["quantity"] == 50
    mails = list((tmp_path / "mail" / "new").iterdir())
    assert mails, "the notifier delivered no e-mail"
