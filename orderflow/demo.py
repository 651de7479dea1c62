"""``orderflow demo``: the whole saga in one process, on kombu's in-memory broker and SQLite.

Orders arrive from every kind of channel: happy ones, a declined card, a flaky gateway, a
shortage, an invalid order and a duplicate submission. The workers run exactly as in
production; only a manual clock stands in for time, jumping to each next timer once everything
is idle, so two days in the carrier's van and a two-week complaint window pass in a blink.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from services.intake.model import TERMINAL
from services.intake.store import IntakeUnitOfWork
from services.stock.admin import set_level
from services.stock.store import StockUnitOfWork
from shared.clock import ManualClock, SystemClock
from shared.settings import Settings

from .audit import audit
from .catalogue import CATALOGUE, PRICES
from .channel import ChannelPublisher, submit_envelope
from .databases import Entry, WorkerDatabases
from .embedded import Cluster
from .views import money, when

STEP_LABELS = {
    "order.placed": "placed",
    "order.rejected": "rejected",
    "stock.reserved": "reserved",
    "stock.unavailable": "short",
    "payment.captured": "paid",
    "payment.failed": "declined",
    "fulfillment.packed": "packed",
    "shipment.dispatched": "shipped",
    "shipment.in_transit": "in transit",
    "shipment.delivered": "delivered",
    "order.cancelled": "cancelled",
    "order.completed": "completed",
}

ADDRESSES = {
    "DE": {"line1": "Invalidenstr. 117", "city": "Berlin", "postal_code": "10115", "country": "DE"},
    "FR": {"line1": "12 rue de Rivoli", "city": "Paris", "postal_code": "75004", "country": "FR"},
    "UA": {
        "line1": "vul. Khreshchatyk 22",
        "city": "Kyiv",
        "postal_code": "01001",
        "country": "UA",
    },
    "CN": {"line1": "88 Century Ave", "city": "Shanghai", "postal_code": "200120", "country": "CN"},
    "PL": {
        "line1": "ul. Marszalkowska 10",
        "city": "Warsaw",
        "postal_code": "00-590",
        "country": "PL",
    },
}


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
) -> dict[str, Any]:
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
        "lines": [{"sku": sku, "quantity": qty, "unit_price": PRICES[sku]} for sku, qty in lines],
        "currency": "EUR",
        "shipping_fee": 1490 if option == "express" else 495,
        "delivery": delivery,
        "payment": {"method": method, "token": token},
    }


def scenarios() -> list[dict[str, Any]]:
    happy = order("web", "WEB-1001", "Ada Lovelace", "en", [("MUG-BLUE", 2), ("TEA-GREEN", 1)])
    invalid = order("phone", "TEL-3001", "Ivan Petrov", "ru", [("BEANS-DARK", 0)], token=None)
    invalid["customer"]["email"] = "ivan(at)example"
    return [
        happy,
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
        order("phone", "TEL-3002", "Ivan Petrov", "ru", [("BEANS-DARK", 3)], option="pickup_point"),
        order("email", "MAIL-4001", "Li Lei", "zh", [("GRINDER-HAND", 1), ("BEANS-DARK", 1)], "CN"),
        order("pos", "POS-5001", "Walk-in customer", "en", [("PRESS-FRENCH", 1)]),
        order(
            "web",
            "WEB-1002",
            "Grace Hopper",
            "en",
            [("GRINDER-HAND", 1)],
            "FR",
            token="tok_decline_insufficient_funds",
        ),
        order("marketplace", "MKT-2002", "Jean Dupont", "en", [("TRAY-OAK", 5)], "FR"),
        invalid,
        order(
            "web", "WEB-1003", "Alan Turing", "en", [("TEA-GREEN", 4)], "PL", token="tok_transient"
        ),
        happy,
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
            rng.choice(list(ADDRESSES)),
            rng.choice(["standard", "standard", "express"]),
        )
        for n in range(count)
    ]


def run_demo(console: Console, extra_orders: int = 6) -> None:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="orderflow-demo-"))
    settings = Settings(
        broker_url="memory://",
        database_url=f"sqlite:///{workdir}/{{worker}}.db",
        database_urls={},
        namespace=f"demo{uuid.uuid4().hex[:8]}",
    )
    clock = ManualClock(SystemClock().now())
    cluster = Cluster(settings, clock)
    cluster.start()
    try:
        _stock_shelves(cluster, clock)
        submissions = scenarios() + extra(extra_orders)
        _run(console, cluster, settings, submissions)
        dbs = WorkerDatabases(settings)
        try:
            _show(console, dbs, submissions)
        finally:
            dbs.dispose()
    finally:
        cluster.close()
    console.print(
        f"\nDone in {time.monotonic() - started:.1f}s. The workers' databases are in {workdir}; "
        f"look at one order with:\n  ORDERFLOW_DATABASE_URL='sqlite:///{workdir}/{{worker}}.db' "
        "orderflow order show <order id>"
    )


def _stock_shelves(cluster: Cluster, clock: ManualClock) -> None:
    sessions = cluster["stock"].sessions
    assert sessions is not None
    with sessions() as session, session.begin():
        uow = StockUnitOfWork(session)
        for p in CATALOGUE:
            set_level(uow, p.sku, p.on_hand, clock.now(), p.location, p.weight_grams)


def _run(
    console: Console, cluster: Cluster, settings: Settings, submissions: list[dict[str, Any]]
) -> None:
    distinct = len({(s["channel"], s["external_id"]) for s in submissions})
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with ChannelPublisher(settings) as channel, Progress(*columns, console=console) as progress:
        submitted = progress.add_task("submitted", total=len(submissions))
        finished = progress.add_task("settled  ", total=distinct)

        def advance() -> None:
            cluster.pump()
            progress.update(finished, completed=_settled(cluster))

        for submission in submissions:
            channel.send([submit_envelope(submission)])
            progress.advance(submitted)
            advance()
            time.sleep(0.1)
        while (due := cluster.next_timer()) is not None:
            assert isinstance(cluster.clock, ManualClock)
            cluster.clock.advance(max(due - cluster.clock.now(), timedelta(0)))
            advance()
            time.sleep(0.05)


def _settled(cluster: Cluster) -> int:
    sessions = cluster["intake"].sessions
    assert sessions is not None
    with sessions() as session:
        counts = IntakeUnitOfWork(session).orders.counts_by_status()
    return sum(n for status, n in counts.items() if status in TERMINAL)


def _show(console: Console, dbs: WorkerDatabases, submissions: list[dict[str, Any]]) -> None:
    with dbs.session("intake") as session:
        found = IntakeUnitOfWork(session).orders.recent(10_000)
    by_key = {(o.channel, o.external_id): o for o in found}
    keys = list(dict.fromkeys((s["channel"], s["external_id"]) for s in submissions))
    table = Table(title="Orders (times are virtual, since each order was placed)")
    for column in ("order", "total", "final state", "timeline"):
        table.add_column(column, overflow="fold")
    for key in keys:
        o = by_key[key]
        state = o.status + (f": {o.cancel_reason}" if o.cancel_reason else "")
        colour = {"completed": "green", "cancelled": "yellow", "rejected": "red"}.get(o.status, "")
        table.add_row(
            f"{o.channel}:{o.external_id}\n[dim]{o.id}[/]",
            money(o.total, o.currency or "EUR") if o.total else "-",
            f"[{colour}]{state}[/]" if colour else state,
            _story(dbs.timeline(o.id)),
        )
    console.print(table)
    report = audit(dbs)
    verdict = "[green]hold[/]" if report.ok else "[red]are broken[/]"
    console.print(f"Invariants (one terminal state, stock, money, effects once): {verdict}")
    for violation in report.violations:
        console.print(f"  [red]{violation}[/]")


def _story(timeline: list[Entry]) -> str:
    order = list(STEP_LABELS)
    steps = sorted(
        (e for e in timeline if e.type in STEP_LABELS), key=lambda e: (e.at, order.index(e.type))
    )
    if not steps:
        return ""
    start = steps[0].at
    return " → ".join(
        STEP_LABELS[e.type] + (f" {when(e.at, start)}" if e.at > start else "") for e in steps
    )
