"""``orderflow demo``: the whole saga in one process, on kombu's in-memory broker and SQLite.

Orders arrive from every kind of channel, and each one tells a story: a happy path, a declined
card, a flaky gateway, a shortage, a backorder that waits for goods, bank transfers paid in
parts or never, cash on delivery, a parcel the carrier cannot deliver, cancellations before and
after dispatch, an address change, an invalid order and a duplicate submission.

The workers run exactly as in production; only a manual clock stands in for time. A small
script plays the outside world (customers, the bank, the goods-in dock): it watches each order's
state and sends a command when its moment comes, e.g. a cancel half an hour after the payment.
When nothing is left to do, the clock jumps to the next timer or scripted moment, so a week's
payment window and a two-week complaint window pass in a blink.
"""

from __future__ import annotations

import mailbox
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic_settings import BaseSettings
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from services.intake.model import TERMINAL, Order
from services.intake.store import IntakeUnitOfWork
from services.notifier.settings import NotifierSettings
from services.payment.settings import PaymentSettings
from services.shipping.settings import ShippingSettings
from services.stock.admin import set_level, set_policy
from services.stock.store import StockUnitOfWork
from services.warehouse.settings import WarehouseSettings
from shared.actions import Done
from shared.clock import ManualClock, SystemClock
from shared.contracts import (
    Address,
    BackorderedLine,
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
    original_order,
)
from shared.envelope import Envelope, wrap
from shared.settings import Settings

from .audit import audit
from .catalogue import CATALOGUE, PRICE_LISTS, Product, shipping_fee
from .channel import ChannelPublisher, submit_envelope
from .databases import Entry, WorkerDatabases
from .embedded import Cluster
from .operations import unlisted_at_intake
from .views import money, when

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

STEP_LABELS = {
    "order.placed": "placed",
    "order.rejected": "rejected",
    "replacement.requested": "sent again",
    "stock.reserved": "reserved",
    "stock.backordered": "backordered",
    "stock.unavailable": "short",
    "payment.pending": "awaiting payment",
    "payment.reminder": "reminder",
    "payment.deferred": "pay on delivery",
    "payment.captured": "paid",
    "payment.failed": "declined",
    "payment.expired": "expired",
    "shipment.address_changed": "address changed",
    "shipment.address_change_refused": "address change refused",
    "fulfillment.cancelled": "cancel accepted",
    "fulfillment.cancel_refused": "cancel refused",
    "fulfillment.packed": "packed",
    "shipment.dispatched": "shipped",
    "shipment.in_transit": "in transit",
    "shipment.delivery_failed": "delivery failed",
    "shipment.returned": "returned to sender",
    "shipment.delivered": "delivered",
    "aftersales.request_refused": "request refused",
    "return.authorized": "RMA",
    "return.expired": "RMA expired",
    "return.received": "goods back",
    "order.cancelled": "cancelled",
    "stock.released": "released",
    "stock.restocked": "restocked",
    "payment.voided": "voided",
    "payment.refunded": "refunded",
    "order.completed": "completed",
}
"""What the table calls each announcement, in the order of an order's life: steps announced at
the same (virtual) moment are shown in this order."""

PACKING = 2 * HOUR


def worker_settings(workdir: Path) -> dict[str, BaseSettings]:
    """What the demo's workers are given instead of reading the environment: the warehouse
    takes two hours to pick and pack (a window to cancel in), e-mail lands in the demo's own
    Maildir whatever the environment says, and the payment and carrier terms are pinned to their
    defaults, so the scripted moments fall where the stories say."""
    return {
        "warehouse": WarehouseSettings(packing_seconds=PACKING.total_seconds()),
        "payment": PaymentSettings(
            window_seconds=7 * DAY.total_seconds(),
            reminder_offsets_seconds=[2 * DAY.total_seconds(), 5 * DAY.total_seconds()],
        ),
        "shipping": ShippingSettings(
            delivery_attempts=3, delivery_retry_interval_seconds=DAY.total_seconds()
        ),
        "notifier": NotifierSettings(smtp_host=None, maildir=workdir / "mail"),
    }


BACKORDERED = Product("SCALE-DIGITAL", "Digital coffee scale", 2990, 0, "D-02-01", 450)
"""Sold out, but its supplier delivers in five days, so orders may wait for it."""
LEAD_TIME_DAYS = 5
BackorderLines = TypeAdapter(list[BackorderedLine])
BACKORDERED_PRICES = {
    "EUR": 2990,
    "USD": 3290,
    "RUB": 289000,
    "UAH": 129000,
    "CNY": 22900,
    "JPY": 4780,
}
CURRENCIES = {"en": "EUR", "ru": "RUB", "uk": "UAH", "zh": "CNY"}
"""The currency each language's customers buy in, unless a story says otherwise."""

ADDRESSES = {
    "DE": {"line1": "Invalidenstr. 117", "city": "Berlin", "postal_code": "10115", "country": "DE"},
    "FR": {"line1": "12 rue de Rivoli", "city": "Paris", "postal_code": "75004", "country": "FR"},
    "UA": {
        "line1": "vul. Khreshchatyk 22",
        "city": "Kyiv",
        "postal_code": "01001",
        "country": "UA",
    },
    "US": {"line1": "350 Fifth Ave", "city": "New York", "postal_code": "10118", "country": "US"},
    "GB": {"line1": "1 Strand", "city": "London", "postal_code": "WC2N 5HR", "country": "GB"},
    "CN": {"line1": "88 Century Ave", "city": "Shanghai", "postal_code": "200120", "country": "CN"},
    "PL": {
        "line1": "ul. Marszalkowska 10",
        "city": "Warsaw",
        "postal_code": "00-590",
        "country": "PL",
    },
    # The simulated carrier never delivers to a first line that contains "REFUSED".
    "DE-REFUSED": {
        "line1": "Lindenweg 3 (REFUSED)",
        "city": "Munich",
        "postal_code": "80331",
        "country": "DE",
    },
}
NEW_ADDRESS = Address(line1="Karl-Marx-Allee 90", city="Berlin", postal_code="10243", country="DE")
LATE_ADDRESS = Address(line1="Torstr. 1", city="Berlin", postal_code="10119", country="DE")


def order(
    channel: str,
    external_id: str,
    name: str,
    language: str,
    lines: list[tuple[str, int]],
    country: str = "DE",
    option: str = "standard",
    token: str | None = "tok_visa_4242",
    method: str = "card",
    currency: str | None = None,
) -> dict[str, Any]:
    """A submission priced from the channel's price list in the customer's currency."""
    currency = currency or CURRENCIES[language]
    prices = {**PRICE_LISTS[currency], BACKORDERED.sku: BACKORDERED_PRICES[currency]}
    delivery: dict[str, Any] = {"option": option, "address": ADDRESSES[country]}
    if option == "pickup_point":
        delivery["pickup_point_id"] = "PUDO-BER-0042"
    return {
        "channel": channel,
        "external_id": external_id,
        "customer": {
            "name": name,
            "email": f"{external_id.lower()}@example.com",
            "language": language,
        },
        "lines": [{"sku": sku, "quantity": qty, "unit_price": prices[sku]} for sku, qty in lines],
        "currency": currency,
        "shipping_fee": shipping_fee(currency, option),
        "delivery": delivery,
        "payment": {"method": method, "token": token},
    }


# -- the outside world's script ----------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What the script sees of one order: intake's row and the workers' announcements."""

    order: Order
    timeline: list[Entry]

    def saw(self, type_name: str) -> bool:
        return any(entry.type == type_name for entry in self.timeline)

    def last(self, type_name: str) -> Entry:
        return [entry for entry in self.timeline if entry.type == type_name][-1]


@dataclass(frozen=True)
class Intervention:
    """Someone outside the saga acts ``after`` this long once ``ready`` holds for the order."""

    actor: str
    what: str
    ready: Callable[[Snapshot], bool]
    after: timedelta
    commands: Callable[[Snapshot, datetime], list[Message]]


@dataclass(frozen=True)
class Scenario:
    submission: dict[str, Any]
    story: str
    script: tuple[Intervention, ...] = ()
    submissions: int = 1

    @property
    def key(self) -> tuple[str, str]:
        return (self.submission["channel"], self.submission["external_id"])


Commands = Callable[[Snapshot, datetime], list[Message]]


def _cancel(reason: str) -> Commands:
    return lambda snap, _: [OrderCancel(order_id=snap.order.id, reason=reason)]


def _move(address: Address, reason: str) -> Commands:
    return lambda snap, _: [
        OrderChangeAddress(order_id=snap.order.id, address=address, reason=reason)
    ]


def _bank(notification_id: str, amount: Callable[[Snapshot], int]) -> Commands:
    """The bank reports money received for the order's payment reference."""

    def commands(snap: Snapshot, now: datetime) -> list[Message]:
        money_in = Money(amount=amount(snap), currency=snap.order.currency or "EUR")
        return [
            PaymentNotification(
                order_id=snap.order.id,
                notification_id=f"{notification_id}-{snap.order.id}",
                amount=money_in,
                received_at=now,
            )
        ]

    return commands


def _send_back(reason: str, resolution: Resolution = Resolution.REFUND, **units: int) -> Commands:
    """The customer asks for an RMA for ``units`` (SKU with ``_`` for ``-``)."""
    return lambda snap, _: [
        ReturnRequest(
            order_id=snap.order.id,
            request_id=f"rq-{snap.order.external_id}",
            resolution=resolution,
            lines=_items(units),
            reason=reason,
        )
    ]


def _resend(reason: str, **units: int) -> Commands:
    return lambda snap, _: [
        ResendRequest(
            order_id=snap.order.id,
            request_id=f"rs-{snap.order.external_id}",
            lines=_items(units),
            reason=reason,
        )
    ]


def _parcel_back(**inspected: tuple[int, int]) -> Commands:
    """The RMA's parcel arrives; the warehouse counts (resellable, damaged) per SKU."""
    return lambda snap, _: [
        ReturnReceive(
            order_id=snap.order.id,
            rma=str(snap.last("return.authorized").data["rma"]),
            lines=[
                InspectedLine(sku=sku.replace("_", "-"), resellable=good, damaged=bad)
                for sku, (good, bad) in inspected.items()
            ],
        )
    ]


def _items(units: dict[str, int]) -> list[ItemQuantity]:
    return [ItemQuantity(sku=sku.replace("_", "-"), quantity=n) for sku, n in units.items()]


def _delivered(snap: Snapshot) -> bool:
    return snap.order.status == "delivered"


def _goods_in(snap: Snapshot, _: datetime) -> list[Message]:
    """The supplier's delivery for each line the order waits for, against its purchase order."""
    waiting = BackorderLines.validate_python(snap.last("stock.backordered").data["lines"])
    return [
        StockReceive(
            receipt_id=f"rcpt-{line.purchase_order_id}",
            sku=line.sku,
            quantity=line.quantity,
            purchase_order_id=line.purchase_order_id,
        )
        for line in waiting
    ]


def _balance(snap: Snapshot) -> int:
    return Money.model_validate(snap.last("payment.reminder").data["balance"]).amount


def scenarios() -> list[Scenario]:
    happy = order("web", "WEB-1001", "Ada Lovelace", "en", [("MUG-BLUE", 2), ("TEA-GREEN", 1)])
    invalid = order("phone", "TEL-3001", "Ivan Petrov", "ru", [("BEANS-DARK", 0)], token=None)
    invalid["customer"]["email"] = "ivan(at)example"
    nameless = order("phone", "TEL-3006", "", "ru", [("TEA-GREEN", 1)])
    return [
        Scenario(
            happy,
            "happy path: paid by card, packed in two hours, delivered in two days, completed "
            "when the two-week complaint window closes; submitted twice, placed once",
            submissions=2,
        ),
        Scenario(
            order(
                "marketplace",
                "MKT-2001",
                "Olena Kovalenko",
                "uk",
                [("KETTLE-STEEL", 1)],
                "UA",
                "express",
                "tok_wallet_olena",
                "e_wallet",
            ),
            "e-wallet in hryvnias, express delivery to Kyiv",
        ),
        Scenario(
            order(
                "phone", "TEL-3002", "Ivan Petrov", "ru", [("BEANS-DARK", 3)], option="pickup_point"
            ),
            "in roubles, delivered to a pickup point",
        ),
        Scenario(
            order(
                "email", "MAIL-4001", "Li Lei", "zh", [("GRINDER-HAND", 1), ("BEANS-DARK", 1)], "CN"
            ),
            "in yuan, two SKUs from two shelves, shipped to China",
        ),
        Scenario(
            order(
                "pos",
                "POS-5001",
                "Walk-in customer",
                "en",
                [("PRESS-FRENCH", 1)],
                "US",
                currency="USD",
            ),
            "a shop till's order in US dollars, told in American English ($37.90, March 7)",
        ),
        Scenario(
            order(
                "web",
                "WEB-1008",
                "Yuki Tanaka",
                "en",
                [("GRINDER-HAND", 1), ("BEANS-DARK", 2)],
                "GB",
                currency="JPY",
            ),
            "priced in yen, which has no minor unit: charged exactly ¥18,560, told in British "
            "English",
        ),
        Scenario(
            order(
                "web",
                "WEB-1002",
                "Grace Hopper",
                "en",
                [("GRINDER-HAND", 1)],
                "FR",
                token="tok_decline_insufficient_funds",
            ),
            "card declined: the stock is released and the order cancelled",
        ),
        Scenario(
            order("marketplace", "MKT-2002", "Jean Dupont", "en", [("TRAY-OAK", 5)], "FR"),
            "5 trays wanted, 3 on the shelf and no backorders for trays: cancelled out of stock",
        ),
        Scenario(
            invalid,
            "invalid submission (a quantity of 0, a broken e-mail address): rejected, every "
            "problem named; the customer cannot be told, having no valid address",
        ),
        Scenario(
            nameless,
            "invalid submission with a blank name but a valid e-mail address: rejected, and "
            "told at that address, greeted without a name",
        ),
        Scenario(
            order(
                "web",
                "WEB-1003",
                "Alan Turing",
                "en",
                [("TEA-GREEN", 4)],
                "PL",
                token="tok_transient",
            ),
            "the card gateway times out twice; the retried charge goes through once",
        ),
        Scenario(
            order("web", "WEB-1004", "Barbara Liskov", "en", [(BACKORDERED.sku, 1)]),
            f"backorder: {BACKORDERED.sku} is sold out, so the order waits for the supplier; "
            f"the goods come five days later and the saga resumes",
            (
                Intervention(
                    "warehouse",
                    "goods received",
                    lambda s: s.order.status == "backordered",
                    LEAD_TIME_DAYS * DAY,
                    _goods_in,
                ),
            ),
        ),
        Scenario(
            order("web", "WEB-1005", "Edsger Dijkstra", "en", [("KETTLE-STEEL", 1)], "FR"),
            "paid by card, cancelled by the customer half an hour later, before packing: "
            "refunded, stock released",
            (
                Intervention(
                    "customer",
                    "cancels before packing",
                    lambda s: s.saw("payment.captured"),
                    HOUR / 2,
                    _cancel("ordered the wrong kettle"),
                ),
            ),
        ),
        Scenario(
            order(
                "email",
                "MAIL-4002",
                "Sergei Ivanov",
                "ru",
                [("BEANS-DARK", 2)],
                token=None,
                method="bank_transfer",
            ),
            "bank transfer never paid: reminded after 2 and 5 days, expired after 7, cancelled",
        ),
        Scenario(
            order(
                "phone",
                "TEL-3003",
                "Taras Shevchenko",
                "uk",
                [("PRESS-FRENCH", 2)],
                token=None,
                method="bank_transfer",
            ),
            "bank transfer in hryvnias paid in two parts: 1000.00 UAH after a day, the balance the "
            "reminder asked for six hours after it",
            (
                Intervention(
                    "bank",
                    "first part paid",
                    lambda s: s.saw("payment.pending"),
                    DAY,
                    _bank("bank-1", lambda _: 100_000),
                ),
                Intervention(
                    "bank",
                    "the rest paid",
                    lambda s: s.saw("payment.reminder"),
                    6 * HOUR,
                    _bank("bank-2", _balance),
                ),
            ),
        ),
        Scenario(
            order(
                "phone",
                "TEL-3004",
                "Mykola Bondar",
                "uk",
                [("MUG-BLUE", 2)],
                token=None,
                method="cash_on_delivery",
            ),
            "cash on delivery in hryvnias: packed on the promise, the carrier is booked to "
            "collect the order's total at the door",
        ),
        Scenario(
            order("web", "WEB-1006", "Kurt Goedel", "en", [("GRINDER-HAND", 1)], "DE-REFUSED"),
            "nobody takes the parcel: three failed attempts, returned to sender, "
            "cancelled, refunded, restocked",
        ),
        Scenario(
            order("marketplace", "MKT-2003", "Wang Fang", "zh", [("TEA-GREEN", 2)], "CN"),
            "the customer cancels a day after dispatch: refused (a return is offered), delivered",
            (
                Intervention(
                    "customer",
                    "cancels after dispatch",
                    lambda s: s.saw("shipment.dispatched"),
                    DAY,
                    _cancel("no longer needed"),
                ),
            ),
        ),
        Scenario(
            order("email", "MAIL-4003", "Emmy Noether", "en", [("PRESS-FRENCH", 1)]),
            "the customer moves an hour after ordering: the parcel goes to the new address; "
            "a second change after dispatch is refused",
            (
                Intervention(
                    "customer",
                    "changes the address",
                    lambda s: s.saw("order.placed"),
                    HOUR,
                    _move(NEW_ADDRESS, "moved house"),
                ),
                Intervention(
                    "customer",
                    "changes the address again",
                    lambda s: s.saw("shipment.dispatched"),
                    HOUR / 2,
                    _move(LATE_ADDRESS, "deliver to my office instead"),
                ),
            ),
        ),
        *after_delivery(),
    ]


def after_delivery() -> list[Scenario]:
    """Returns, an exchange and a resend, each a case within the two-week return window."""
    return [
        Scenario(
            order("web", "WEB-1007", "Frances Allen", "en", [("MUG-BLUE", 2), ("TEA-GREEN", 1)]),
            "return: both mugs sent back two days after delivery, one arrives chipped: refunded "
            "12.50 + 6.25 EUR (damaged at half price), the good one restocked, the tea kept",
            (
                Intervention(
                    "customer",
                    "asks to return the mugs",
                    _delivered,
                    2 * DAY,
                    _send_back("the glaze is uneven", MUG_BLUE=2),
                ),
                Intervention(
                    "warehouse",
                    "returned mugs inspected",
                    lambda s: s.saw("return.authorized"),
                    3 * DAY,
                    _parcel_back(MUG_BLUE=(1, 1)),
                ),
            ),
        ),
        Scenario(
            order("phone", "TEL-3005", "Anna Karenina", "ru", [("PRESS-FRENCH", 1)]),
            "full return: everything comes back unused, so everything is refunded, shipping "
            "included; the order ends returned",
            (
                Intervention(
                    "customer",
                    "returns the whole order",
                    _delivered,
                    DAY,
                    _send_back("changed my mind", PRESS_FRENCH=1),
                ),
                Intervention(
                    "warehouse",
                    "returned press inspected",
                    lambda s: s.saw("return.authorized"),
                    4 * DAY,
                    _parcel_back(PRESS_FRENCH=(1, 0)),
                ),
            ),
        ),
        Scenario(
            order("marketplace", "MKT-2004", "Oksana Bilous", "uk", [("KETTLE-STEEL", 1)], "UA"),
            "exchange: the kettle leaks; once it is back a new one is reserved, packed and "
            "shipped free of charge, and the order completes when the window closes",
            (
                Intervention(
                    "customer",
                    "asks to exchange the kettle",
                    _delivered,
                    DAY,
                    _send_back("it leaks", Resolution.EXCHANGE, KETTLE_STEEL=1),
                ),
                Intervention(
                    "warehouse",
                    "leaking kettle received",
                    lambda s: s.saw("return.authorized"),
                    3 * DAY,
                    _parcel_back(KETTLE_STEEL=(0, 1)),
                ),
            ),
        ),
        Scenario(
            order("email", "MAIL-4004", "Zhang Wei", "zh", [("TEA-GREEN", 3)], "CN"),
            "one tea missing from the parcel: resent at once, free of charge",
            (
                Intervention(
                    "customer",
                    "reports a missing tea",
                    _delivered,
                    HOUR,
                    _resend("only two of three teas in the parcel", TEA_GREEN=1),
                ),
            ),
        ),
    ]


def extra(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    channels = ["web", "marketplace", "phone", "email", "pos"]
    stocked = [p.sku for p in CATALOGUE if p.sku != "TRAY-OAK"]
    return [
        order(
            rng.choice(channels),
            f"EXT-{6000 + n}",
            f"Customer {n}",
            rng.choice(["en", "ru", "uk", "zh"]),
            [(sku, rng.randint(1, 3)) for sku in rng.sample(stocked, rng.randint(1, 3))],
            rng.choice([c for c in ADDRESSES if c != "DE-REFUSED"]),
            rng.choice(["standard", "standard", "express"]),
        )
        for n in range(count)
    ]


# -- running it --------------------------------------------------------------------------------


def run_demo(console: Console, extra_orders: int = 6) -> None:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="orderflow-demo-"))
    settings = Settings(
        broker_url="memory://",
        database_url=f"sqlite:///{workdir}/{{worker}}.db",
        database_urls={},
        namespace=f"demo{uuid.uuid4().hex[:8]}",
    )
    clock = ManualClock(SystemClock().now().replace(microsecond=0))
    cluster = Cluster(settings, clock, worker_settings=worker_settings(workdir))
    cluster.start()
    try:
        _stock_shelves(cluster, clock)
        stories = scenarios()
        extras = [Scenario(s, "") for s in extra(extra_orders)]
        dbs = WorkerDatabases(settings)
        try:
            missed = _run(console, cluster, clock, settings, dbs, [*stories, *extras])
            _show(console, dbs, stories, extras, missed)
        finally:
            dbs.dispose()
    finally:
        cluster.close()
    _show_mail(console, workdir / "mail")
    console.print(
        f"\nDone in {time.monotonic() - started:.1f}s. The workers' databases are in {workdir}; "
        f"look at one order with:\n  ORDERFLOW_DATABASE_URL='sqlite:///{workdir}/{{worker}}.db' "
        "orderflow order show <order id>"
    )


def _stock_shelves(cluster: Cluster, clock: ManualClock) -> None:
    """Stock every product, and wait until intake has heard stock list them all."""
    products = [*CATALOGUE, BACKORDERED]

    def shelve(uow: StockUnitOfWork) -> Done[None]:
        listings = [
            set_level(uow, p.sku, p.on_hand, clock.now(), p.location, p.weight_grams)
            for p in products
        ]
        set_policy(uow, BACKORDERED.sku, backorder_allowed=True, lead_time_days=LEAD_TIME_DAYS)
        return Done(None, [message for done in listings for message in done.announced])

    cluster["stock"].operate(shelve)
    intake = cluster["intake"].sessions
    assert intake is not None
    skus = [p.sku for p in products]
    cluster.pump_until(lambda: not unlisted_at_intake(intake, skus), "intake knows every SKU")


@dataclass
class Script:
    """The outside world's moves: each intervention is armed when its order is ready and
    carried out once its delay has passed on the manual clock."""

    moves: list[tuple[tuple[str, str], Intervention]]
    armed: dict[int, datetime] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    log: list[str] = field(default_factory=list)

    @property
    def waiting(self) -> list[int]:
        return [n for n in range(len(self.moves)) if n not in self.done]

    def act(self, dbs: WorkerDatabases, now: datetime) -> list[Envelope]:
        """Arm what became ready; return the commands of every move that is due."""
        orders = _orders(dbs)
        due: list[Envelope] = []
        for n in self.waiting:
            key, move = self.moves[n]
            order_row = orders.get(key)
            if order_row is None:
                continue
            snap = Snapshot(order_row, dbs.timeline(order_row.id))
            if n not in self.armed and move.ready(snap):
                self.armed[n] = now + move.after
            if n in self.armed and self.armed[n] <= now:
                self.done.add(n)
                self.log.append(f"{move.actor}: {move.what} ({key[0]}:{key[1]})")
                due += [
                    wrap(m, source=f"demo.{move.actor}", now=now) for m in move.commands(snap, now)
                ]
        return due

    def next_due(self) -> datetime | None:
        return min((self.armed[n] for n in self.waiting if n in self.armed), default=None)


def _run(
    console: Console,
    cluster: Cluster,
    clock: ManualClock,
    settings: Settings,
    dbs: WorkerDatabases,
    stories: Sequence[Scenario],
) -> list[str]:
    """Submit every order, then play the script and the timers until nothing is left to do.
    Returns the scripted moves whose moment never came."""
    submissions = [s.submission for s in stories for _ in range(s.submissions)]
    script = Script([(s.key, move) for s in stories for move in s.script])
    start = clock.now()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with ChannelPublisher(settings) as channel, Progress(*columns, console=console) as progress:
        submitted = progress.add_task("submitted        ", total=len(submissions))
        acted = progress.add_task("scripted moves   ", total=len(script.moves))
        finished = progress.add_task("settled          ", total=len(stories))

        def advance() -> None:
            cluster.pump()
            progress.update(finished, completed=_settled(cluster))
            _describe(progress, finished, "settled", clock.now(), start)

        for submission in submissions:
            channel.send([submit_envelope(submission)])
            progress.advance(submitted)
            advance()
            time.sleep(0.08)
        for _ in range(10_000):
            commands = script.act(dbs, clock.now())
            if commands:
                channel.send(commands)
                progress.update(acted, completed=len(script.done))
                _describe(progress, acted, script.log[-1], clock.now(), start)
                advance()
                continue
            due = min(
                (d for d in (cluster.next_timer(), script.next_due()) if d is not None),
                default=None,
            )
            if due is None:
                break
            clock.advance(max(due - clock.now(), timedelta(0)))
            advance()
            time.sleep(0.02)
        else:
            raise RuntimeError("the demo is still busy after 10,000 steps")
    return [
        f"{move.actor}: {move.what} ({key[0]}:{key[1]})"
        for key, move in (script.moves[n] for n in script.waiting)
    ]


def _describe(progress: Progress, task: TaskID, what: str, now: datetime, start: datetime) -> None:
    moment = when(now, start) if now > start else "+0s"
    progress.update(task, description=f"{what[:48]:<48} {moment:>7}")


def _orders(dbs: WorkerDatabases) -> dict[tuple[str, str], Order]:
    with dbs.session("intake") as session:
        found = IntakeUnitOfWork(session).orders.recent(10_000)
    return {(o.channel, o.external_id): o for o in found}


def _settled(cluster: Cluster) -> int:
    sessions = cluster["intake"].sessions
    assert sessions is not None
    with sessions() as session:
        counts = IntakeUnitOfWork(session).orders.counts_by_status()
    return sum(n for status, n in counts.items() if status in TERMINAL)


# -- what happened -----------------------------------------------------------------------------


def _show(
    console: Console,
    dbs: WorkerDatabases,
    stories: Sequence[Scenario],
    extras: Sequence[Scenario],
    missed: Sequence[str],
) -> None:
    by_key = _orders(dbs)
    table = Table(title="Orders (times are virtual, since each order was placed)")
    table.add_column("order", overflow="fold", min_width=20)
    table.add_column("total", no_wrap=True, justify="right")
    table.add_column("final state", overflow="fold", max_width=18)
    table.add_column("timeline", overflow="fold")
    for scenario in [*stories, *extras]:
        o = by_key[scenario.key]
        state = o.status + (f": {o.cancel_reason}" if o.cancel_reason else "")
        if o.status == "rejected":
            state += ": " + ", ".join(problem["field"] for problem in o.problems)
        colours = {
            "completed": "green",
            "returned": "cyan",
            "cancelled": "yellow",
            "rejected": "red",
        }
        colour = colours.get(o.status, "")
        table.add_row(
            f"{o.channel}:{o.external_id}\n[dim]{o.id}[/]",
            money(o.total, o.currency or "EUR") if o.total else "-",
            f"[{colour}]{state}[/]" if colour else state,
            _story(dbs.timeline(o.id)),
        )
    console.print(table)
    stories_table = Table.grid(padding=(0, 2))
    stories_table.add_column(no_wrap=True)
    stories_table.add_column()
    for scenario in stories:
        stories_table.add_row(f"{scenario.key[0]}:{scenario.key[1]}", scenario.story)
    if extras:
        first, last = extras[0].key[1], extras[-1].key[1]
        span = first if first == last else f"{first}…{last}"
        stories_table.add_row(span, "more happy paths, from random channels and languages")
    console.print("[bold]What each order shows[/]")
    console.print(stories_table)
    for move in missed:
        console.print(f"  [red]the script never found the moment for: {move}[/]")
    report = audit(dbs)
    verdict = "[green]hold[/]" if report.ok else "[red]are broken[/]"
    console.print(f"Invariants (one terminal state, stock, money, effects once): {verdict}")
    for violation in report.violations:
        console.print(f"  [red]{violation}[/]")


def _show_mail(console: Console, maildir: Path) -> None:
    box = mailbox.Maildir(maildir, create=False) if maildir.exists() else None
    languages: Counter[str] = Counter(
        str(message["Content-Language"] or "?") for message in (box or [])
    )
    count = sum(languages.values())
    spread = ", ".join(f"{n} in {lang}" for lang, n in sorted(languages.items()))
    console.print(
        f"E-mails: {count} delivered to the Maildir {maildir}" + (f" ({spread})" if spread else "")
    )
    for language, subject, total in _confirmations(box):
        console.print(f"  {language}: {subject} — {total}")


TOTAL_LABELS = ("Total:", "Итого:", "Разом:", "合计：")  # noqa: RUF001


def _confirmations(box: mailbox.Maildir | None) -> list[tuple[str, str, str]]:
    """One order confirmation per language: its subject and its total, as the customer reads
    them (amounts and dates in the customer's locale)."""
    shown: dict[str, tuple[str, str, str]] = {}
    for message in box or []:
        language = str(message["Content-Language"] or "?")
        body = message.get_payload(decode=True)
        text = body.decode("utf-8") if isinstance(body, bytes) else ""
        totals = [
            line.strip() for line in text.splitlines() if line.strip().startswith(TOTAL_LABELS)
        ]
        if totals and language not in shown:
            subject = str(make_header(decode_header(str(message["Subject"]))))
            shown[language] = (language, subject, " ".join(totals[0].split()))
    return [shown[language] for language in sorted(shown)]


def _story(timeline: list[Entry]) -> str:
    """The order's steps in virtual time, a time shown only when it moved on; a step repeated
    in a row (delivery attempts) is shown once with its count."""
    steps = sorted((e for e in timeline if e.type in STEP_LABELS), key=lambda e: (e.at, _rank(e)))
    if not steps:
        return ""
    start = steps[0].at
    runs: list[tuple[str, list[datetime]]] = []
    for entry in steps:
        label = _label(entry)
        if runs and runs[-1][0] == label and label in REPEATED:
            runs[-1][1].append(entry.at)
        else:
            runs.append((label, [entry.at]))
    shown, last = [], start
    for label, moments in runs:
        text = label if len(moments) == 1 else f"{label} x{len(moments)}"
        if moments[0] > last:
            text += f" {when(moments[0], start)}"
            if len(moments) > 1:
                text += f"…{when(moments[-1], start)}"
        shown.append(text)
        last = moments[-1]
    return " → ".join(shown)


REPEATED = {"delivery failed", "reminder"}


def _rank(entry: Entry) -> int:
    """Order of steps at the same moment; cash is collected once the parcel is delivered, and a
    replacement's steps follow the order's own (its goods go out after the request for them)."""
    if entry.type == "payment.captured" and entry.data.get("method") == "cash_on_delivery":
        return list(STEP_LABELS).index("shipment.delivered") + 1
    subject = str(entry.data.get("order_id", ""))
    later = len(STEP_LABELS) if subject != original_order(subject) else 0
    return later + list(STEP_LABELS).index(entry.type)


def _label(entry: Entry) -> str:
    data = entry.data
    if entry.type == "payment.pending":
        received = data.get("received")
        if isinstance(received, dict) and received.get("amount"):
            return f"part paid ({money(int(received['amount']), str(received['currency']))})"
        return f"awaiting {str(data.get('method', 'payment')).replace('_', ' ')}"
    if entry.type == "payment.captured" and data.get("method") == "cash_on_delivery":
        return "cash collected"
    if entry.type == "payment.refunded":
        amount = data.get("amount")
        if isinstance(amount, dict):
            return f"refunded {money(int(amount['amount']), str(amount['currency']))}"
    return STEP_LABELS[entry.type]
