# ruff: noqa: RUF001 (Russian, Ukrainian and Chinese text)
"""Orders in roubles, hryvnias, yuan and yen on the real RabbitMQ and PostgreSQL, each worker its
own process: exact money where the outside world sees it (the gateway's ledger for cards, the
payment's books for a bank transfer and cash on delivery), and customer e-mails, found in the
notifier's Maildir by Message-ID, written in each customer's locale.

The prices are the channel's, from the catalogue's price list in each currency; the expected
amounts below are written out by hand, as a customer would read them.
"""

from __future__ import annotations

import mailbox
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message as Email
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.operator.audit import audit
from orderflow.operator.operations import await_listed, set_stock
from orderflow.scenarios.catalogue import CATALOGUE, PRICE_LISTS, shipping_fee
from services.intake.model import Order
from services.payment.gateway import GatewayEntry
from services.payment.model import Payment
from shared.contracts import (
    InspectedLine,
    ItemQuantity,
    Money,
    PaymentNotification,
    ReturnReceive,
    ReturnRequest,
)
from shared.envelope import wrap
from shared.settings import Settings
from tests.support import started_cluster, wait_until

NBSP, NNBSP = "\N{NO-BREAK SPACE}", "\N{NARROW NO-BREAK SPACE}"
TIMES = {
    "ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS": "0.2",
    "ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS": "0.5",
    "ORDERFLOW_INTAKE_COMPLETION_WINDOW_SECONDS": "4",
    "ORDERFLOW_AFTERSALES_RETURN_WINDOW_SECONDS": "4",
    "ORDERFLOW_WAREHOUSE_PACKING_SECONDS": "0.2",
    "ORDERFLOW_TIMER_POLL_SECONDS": "0.05",
}
ADDRESSES = {
    "UA": {"line1": "vul. Khreshchatyk 22", "city": "Kyiv", "postal_code": "01001"},
    "CN": {"line1": "88 Century Ave", "city": "Shanghai", "postal_code": "200120"},
    "US": {"line1": "350 Fifth Ave", "city": "New York", "postal_code": "10118"},
}
LONG_DATE = {
    "ru": rf"\d{{1,2}} [а-я]+ \d{{4}}{NNBSP}г\.",
    "uk": rf"\d{{1,2}} [а-яіїєґ]+ \d{{4}}{NNBSP}р\.",
    "zh": r"\d{4}年\d{1,2}月\d{1,2}日",
    "en_US": r"[A-Z][a-z]+ \d{1,2}, \d{4}",
}


@dataclass
class Purchase:
    """One order, and what its customer must read: the confirmation's total and expected date,
    the dispatch e-mail's words about the date and, for some, the cash to pay or a refund."""

    external_id: str
    language: str
    country: str
    currency: str
    lines: list[tuple[str, int]]
    total: str
    date: str
    method: str = "card"
    told: dict[str, list[str]] = field(default_factory=dict)

    def submission(self) -> dict[str, Any]:
        prices = PRICE_LISTS[self.currency]
        return {
            "channel": "web",
            "external_id": self.external_id,
            "customer": {
                "name": "Test Customer",
                "email": f"{self.external_id.lower()}@example.com",
                "language": self.language,
            },
            "lines": [{"sku": s, "quantity": n, "unit_price": prices[s]} for s, n in self.lines],
            "currency": self.currency,
            "shipping_fee": shipping_fee(self.currency, "standard"),
            "delivery": {
                "option": "standard",
                "address": {**ADDRESSES[self.country], "country": self.country},
            },
            "payment": {
                "method": self.method,
                "token": "tok_visa" if self.method == "card" else None,
            },
        }

    @property
    def minor_total(self) -> int:
        prices = PRICE_LISTS[self.currency]
        items = sum(prices[sku] * n for sku, n in self.lines)
        return items + shipping_fee(self.currency, "standard")


# A parcel to Ukraine, China or the US goes by the world zone's cheapest standard service (eight
# days), later than the five days intake promises for standard delivery: every dispatch e-mail
# must say the date moved.
PURCHASES = [
    Purchase(
        "RUB-CARD",
        "ru",
        "UA",
        "RUB",
        [("MUG-BLUE", 2), ("TEA-GREEN", 1)],
        total=f"Итого:    3{NBSP}719,00{NBSP}₽",
        date=LONG_DATE["ru"],
        told={"shipment.dispatched": ["Приносим извинения: это позже даты"]},
    ),
    Purchase(
        "RUB-COD",
        "ru",
        "UA",
        "RUB",
        [("BEANS-DARK", 1)],
        total=f"Итого:    2{NBSP}580,00{NBSP}₽",
        date=LONG_DATE["ru"],
        method="cash_on_delivery",
        told={"shipment.dispatched": [f"Оплата при получении:    2{NBSP}580,00{NBSP}₽"]},
    ),
    Purchase(
        "UAH-RETURN",
        "uk",
        "UA",
        "UAH",
        [("MUG-BLUE", 2)],
        total=f"Разом:    1{NBSP}218,00{NBSP}₴",
        date=LONG_DATE["uk"],
        told={
            "shipment.dispatched": ["Перепрошуємо: це пізніше за дату"],
            "payment.refunded": [f"Ми повернули вам 549,00{NBSP}₴ за замовлення UAH-RETURN"],
        },
    ),
    Purchase(
        "CNY-CARD",
        "zh",
        "CN",
        "CNY",
        [("GRINDER-HAND", 1), ("BEANS-DARK", 2)],
        total="合计：¥916.00",
        date=LONG_DATE["zh"],
        told={"shipment.dispatched": ["很抱歉：这比您下单时我们告知的日期"]},
    ),
    Purchase(
        "CNY-BANK",
        "zh",
        "CN",
        "CNY",
        [("TEA-GREEN", 2)],
        total="合计：¥177.00",
        date=LONG_DATE["zh"],
        method="bank_transfer",
        told={"payment.pending": ["待付金额：¥177.00"]},
    ),
    Purchase(
        "JPY-CARD",
        "en",
        "US",
        "JPY",
        [("GRINDER-HAND", 1), ("BEANS-DARK", 2)],
        total="Total:    ¥18,560",
        date=LONG_DATE["en_US"],
        told={"shipment.dispatched": ["We are sorry: that is later than the"]},
    ),
]
RETURNED = ("UAH-RETURN", "MUG-BLUE", 54_900)
"""One mug of the hryvnia order comes back unused: 549,00 ₴ goes back to the card."""


@pytest.fixture
def cluster(settings: Settings, tmp_path: Path) -> Iterator[tuple[ProcessCluster, WorkerDatabases]]:
    with started_cluster(settings, tmp_path, TIMES) as running:
        yield running


def test_orders_in_four_currencies_complete_with_exact_money_and_texts_in_the_customers_locale(
    settings: Settings, cluster: tuple[ProcessCluster, WorkerDatabases], tmp_path: Path
) -> None:
    processes, dbs = cluster
    for product in CATALOGUE:
        set_stock(settings, product.sku, 100, product.location, product.weight_grams)
    await_listed(settings, [product.sku for product in CATALOGUE])
    with ChannelPublisher(settings) as channel:
        channel.send([submit_envelope(p.submission()) for p in PURCHASES])
    orders = {p.external_id: placed(dbs, p.external_id) for p in PURCHASES}

    pay_by_bank(settings, dbs, orders["CNY-BANK"], Money(amount=17_700, currency="CNY"))
    return_one(settings, dbs, orders[RETURNED[0]], RETURNED[1])
    wait_until(lambda: ended(dbs, orders), 90, what="every order to complete")
    for purchase in PURCHASES:
        assert_told(dbs, tmp_path / "mail", purchase, orders[purchase.external_id])
    assert set(processes.stop().values()) == {0}

    assert audit(dbs).violations == []
    for purchase in PURCHASES:
        order = orders[purchase.external_id]
        assert (order.currency, order.total) == (purchase.currency, purchase.minor_total)
        assert_money(dbs, purchase, order)


def placed(dbs: WorkerDatabases, external_id: str) -> Order:
    found: list[Order] = []

    def known() -> bool:
        with dbs.session("intake") as session:
            query = select(Order).where(Order.external_id == external_id)
            found[:] = session.scalars(query).all()
        return bool(found) and found[0].status != "received"

    wait_until(known, 60, what=f"order {external_id}")
    assert found[0].status != "rejected", found[0].problems
    return found[0]


def announced(dbs: WorkerDatabases, order_id: str, type_name: str) -> list[dict[str, Any]]:
    return [entry.data for entry in dbs.timeline(order_id) if entry.type == type_name]


def send(settings: Settings, *commands: Any) -> None:
    with ChannelPublisher(settings) as channel:
        channel.send([wrap(command, source="e2e") for command in commands])


def pay_by_bank(settings: Settings, dbs: WorkerDatabases, order: Order, money: Money) -> None:
    wait_until(lambda: announced(dbs, order.id, "payment.pending"), 60, what="payment.pending")
    send(
        settings,
        PaymentNotification(
            order_id=order.id,
            notification_id=f"bank-{uuid.uuid4().hex[:12]}",
            amount=money,
            received_at=datetime.now(UTC),
        ),
    )


def return_one(settings: Settings, dbs: WorkerDatabases, order: Order, sku: str) -> None:
    wait_until(lambda: announced(dbs, order.id, "shipment.delivered"), 60, what="delivery")
    one = [ItemQuantity(sku=sku, quantity=1)]
    send(settings, ReturnRequest(order_id=order.id, request_id="rq-1", lines=one, reason="x"))
    wait_until(lambda: announced(dbs, order.id, "return.authorized"), 60, what="the RMA")
    inspected = [InspectedLine(sku=sku, resellable=1)]
    send(settings, ReturnReceive(order_id=order.id, rma=f"{order.id}.1", lines=inspected))


def ended(dbs: WorkerDatabases, orders: dict[str, Order]) -> bool:
    with dbs.session("intake") as session:
        states = [session.get(Order, order.id) for order in orders.values()]
    return all(state is not None and state.status == "completed" for state in states)


def assert_money(dbs: WorkerDatabases, purchase: Purchase, order: Order) -> None:
    """Cards: the gateway's ledger charged the total, in the order's currency, and refunded
    exactly what came back. Bank transfer and cash: payment's books took the total in it."""
    with dbs.session("payment") as session:
        query = select(GatewayEntry).where(GatewayEntry.reference == order.id)
        ledger = [(e.kind, e.amount, e.currency, e.outcome) for e in session.scalars(query)]
        payment = session.get(Payment, order.id)
    assert payment is not None
    assert (payment.currency, payment.captured_amount) == (order.currency, order.total)
    refunds = [(e[1], e[2]) for e in ledger if e[0] == "refund"]
    if purchase.method == "card":
        assert ("charge", order.total, order.currency, "approved") in ledger
        returned = [(RETURNED[2], order.currency)] if purchase.external_id == RETURNED[0] else []
        assert refunds == returned
        assert payment.refunded_amount == sum(amount for amount, _ in returned)
    else:
        assert ledger == [], "money by bank or cash never goes through the card gateway"
        assert payment.refunded_amount == 0


def assert_told(dbs: WorkerDatabases, maildir: Path, purchase: Purchase, order: Order) -> None:
    """The e-mails the notifier announced as sent, found in the Maildir by Message-ID."""
    wanted = {"order.placed", "shipment.dispatched", *purchase.told}
    sent: dict[str, Email] = {}

    def all_sent() -> bool:
        mails = by_message_id(maildir)
        for data in announced(dbs, order.id, "notification.sent"):
            message_id = f"<{data['notification_id']}@orderflow>"
            if message_id in mails:
                sent[data["about"]] = mails[message_id]
        return wanted <= set(sent)

    wait_until(all_sent, 30, what=f"{purchase.external_id}'s e-mails: {sorted(wanted)}")
    confirmation = text(sent["order.placed"])
    assert subject(sent["order.placed"]).endswith(purchase.external_id)
    assert purchase.total in confirmation
    [expected] = [line for line in confirmation.splitlines() if re.search(purchase.date, line)]
    assert order.id not in subject(sent["shipment.dispatched"])
    assert purchase.external_id in subject(sent["shipment.dispatched"])
    for about, phrases in purchase.told.items():
        for phrase in phrases:
            assert phrase in text(sent[about]), f"{purchase.external_id} {about}: {phrase!r}"
    assert expected


def by_message_id(maildir: Path) -> dict[str, Email]:
    return {str(message["Message-ID"]): message for message in mailbox.Maildir(maildir)}


def subject(message: Email) -> str:
    return str(make_header(decode_header(str(message["Subject"]))))


def text(message: Email) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")
