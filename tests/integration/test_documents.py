# ruff: noqa: RUF001 (Russian and Chinese text)
"""The warehouse's documents for orders the real saga processed, on the embedded cluster (every
worker in this process on memory:// and SQLite): three orders, in Russian, Chinese and English,
go through intake, stock, payment, warehouse and shipping; then ``orderflow documents`` prints
their wave, and the PDFs are read back as people and scanners read them.

The expected amounts are written out by hand, as each customer reads them; the expected walk of
the pick list comes from the catalogue's shelf locations, not from the warehouse's tables.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.embedded import Cluster
from orderflow.cluster.registry import NAMES
from orderflow.documents.fonts import FACES
from orderflow.operator.operations import unlisted_at_intake
from orderflow.scenarios.catalogue import CATALOGUE, PRICE_LISTS, SHELVES, stock_shelves
from services.intake.model import Order
from services.shipping.model import Shipment
from services.warehouse.model import Fulfillment
from shared.clock import ManualClock, SystemClock
from shared.settings import Settings
from tests.pdfs import barcodes, text
from tests.required import required
from tests.support import memory_settings, real_settings, tear_down, wait_until

LOCATIONS = {product.sku: product.location for product in CATALOGUE}


def order(external_id: str, customer: dict[str, str], currency: str, **rest: Any) -> dict[str, Any]:
    prices = PRICE_LISTS[currency]
    lines = [
        {"sku": sku, "quantity": quantity, "unit_price": prices[sku]}
        for sku, quantity in rest.pop("lines")
    ]
    return {
        "channel": "web",
        "external_id": external_id,
        "customer": {"email": f"{external_id.lower()}@example.com", **customer},
        "currency": currency,
        "lines": lines,
        **rest,
    }


RUSSIAN = order(
    "DOC-RU",
    {"name": "Иван Петров", "language": "ru"},
    "RUB",
    lines=[("MUG-BLUE", 2), ("BEANS-DARK", 1)],
    shipping_fee=49000,
    delivery={
        "option": "standard",
        "address": {
            "line1": "ул. Тверская, 7",
            "city": "Москва",
            "postal_code": "125009",
            "country": "RU",
        },
    },
    payment={"method": "card", "token": "tok_visa"},
    taxes=[{"name": "НДС", "rate_basis_points": 2000, "amount": 82667}],
)
CHINESE = order(
    "DOC-ZH",
    {"name": "张伟", "language": "zh"},
    "CNY",
    lines=[("KETTLE-STEEL", 15), ("TEA-GREEN", 2)],
    shipping_fee=11900,
    delivery={
        "option": "express",
        "address": {
            "line1": "浦东新区世纪大道88号",
            "city": "上海",
            "postal_code": "200120",
            "country": "CN",
        },
    },
    payment={"method": "card", "token": "tok_visa"},
    taxes=[{"name": "增值税", "rate_basis_points": 1300, "amount": 70086}],
)
ENGLISH = order(
    "DOC-EN",
    {"name": "Jane Doe", "language": "en"},
    "EUR",
    lines=[("PRESS-FRENCH", 1), ("MUG-BLUE", 1), ("GRINDER-HAND", 1)],
    shipping_fee=495,
    delivery={
        "option": "standard",
        "address": {
            "line1": "Invalidenstr. 117",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
    },
    payment={"method": "cash_on_delivery"},
    taxes=[
        {"name": "VAT", "rate_basis_points": 1900, "amount": 1860},
        {"name": "VAT", "rate_basis_points": 700, "amount": 32},
    ],
)
ORDERS = [RUSSIAN, CHINESE, ENGLISH]


@pytest.fixture(scope="module", params=["memory", pytest.param("rabbitmq", marks=pytest.mark.real)])
def settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """One saga for the module's tests, on memory:// with SQLite, then on RabbitMQ with
    PostgreSQL: the documents read the workers' databases, whichever they are."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    if request.param == "memory":
        yield memory_settings(namespace, tmp_path_factory.mktemp("databases"))
        return
    rabbitmq_url = request.getfixturevalue("rabbitmq_url")
    postgres_url = request.getfixturevalue("postgres_url")
    chosen = real_settings(namespace, rabbitmq_url, postgres_url)
    yield chosen
    tear_down(chosen, NAMES)


@pytest.fixture(scope="module")
def processed(settings: Settings) -> Iterator[tuple[dict[str, str], str, str]]:
    """The three orders through the saga until every one is booked with a carrier: their ids
    by external id, and a window (since, until) in which all of them became ready."""
    for path, _ in FACES.values():
        if not path.exists():
            required(f"{path} is missing (Debian: fonts-dejavu-core, fonts-wqy-microhei)")
    clock = ManualClock(SystemClock().now().replace(microsecond=0))
    cluster = Cluster(settings, clock)
    cluster.start()
    dbs = WorkerDatabases(settings, ["intake", "shipping"])
    try:
        stock_shelves(cluster["stock"].operate, SHELVES, clock)
        intake = cluster["intake"].sessions
        assert intake is not None
        skus = [shelf.product.sku for shelf in SHELVES]
        wait_until(
            lambda: not unlisted_at_intake(intake, skus), 60, step=cluster.step, what="SKUs listed"
        )
        since = clock.now()
        with ChannelPublisher(settings) as channel:
            channel.send([submit_envelope(submission) for submission in ORDERS])

        def booked() -> dict[str, str] | None:
            with dbs.session("intake") as session:
                query = select(Order.external_id, Order.id)
                ids = {row.external_id: row.id for row in session.execute(query)}
            with dbs.session("shipping") as session:
                query = select(Shipment.order_id).where(Shipment.carrier.is_not(None))
                done = set(session.scalars(query))
            return ids if len(ids) == len(ORDERS) and done >= set(ids.values()) else None

        wait_until(lambda: booked() is not None, 60, step=cluster.step, what="orders booked")
        ids = booked()
        assert ids is not None
        clock.advance(timedelta(seconds=1))
        yield ids, since.isoformat(), clock.now().isoformat()
    finally:
        dbs.dispose()
        cluster.close()


def cli(settings: Settings, *args: str) -> tuple[int, str]:
    env = {"ORDERFLOW_DATABASE_URL": settings.database_url, "ORDERFLOW_DATABASE_URLS": None}
    result = CliRunner(env=env).invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def words(pdf: Path) -> str:
    """The PDF's text with every run of spaces as one."""
    return " ".join(text(pdf).split())


def test_a_wave_prints_every_document_of_its_orders(
    settings: Settings, processed: tuple[dict[str, str], str, str], tmp_path: Path
) -> None:
    ids, since, until = processed
    out = tmp_path / "printed"

    code, said = cli(
        settings, "documents", "wave", "--since", since, "--until", until, "-o", str(out)
    )

    assert code == 0, said
    ru, zh, en = ids["DOC-RU"], ids["DOC-ZH"], ids["DOC-EN"]
    printed = sorted(path.name for path in out.iterdir())
    assert printed == sorted(
        [
            *[f"invoice-{order_id}.pdf" for order_id in (ru, zh, en)],
            *[
                f"{kind}-{order_id}-1.pdf"
                for kind in ("slip", "label")
                for order_id in (ru, zh, en)
            ],
            f"slip-{zh}-2.pdf",
            f"label-{zh}-2.pdf",
            next(name for name in printed if name.startswith("pick-list-")),
        ]
    ), said
    assert "skipped" not in said


def test_the_pick_list_walks_the_shelves_in_location_order(
    settings: Settings, processed: tuple[dict[str, str], str, str], tmp_path: Path
) -> None:
    ids, since, until = processed
    code, said = cli(
        settings, "documents", "pick-list", "--since", since, "--until", until, "-o", str(tmp_path)
    )
    assert code == 0, said

    page = text(next(tmp_path.glob("pick-list-*.pdf")))
    rows = re.findall(r"^\s*\S\s+(\S+)\s+([A-Z][A-Z0-9-]+)\s+(\d+)\s+(ord_\w+)\s*$", page, re.M)
    expected = sorted(
        (LOCATIONS[line["sku"]], line["sku"], ids[o["external_id"]], line["quantity"])
        for o in ORDERS
        for line in o["lines"]
    )
    assert [(loc, sku, order_id, int(qty)) for loc, sku, qty, order_id in rows] == expected, page
    assert "3 orders, 7 lines, 23 units" in " ".join(page.split())


def test_invoices_carry_the_tax_lines_in_each_customers_language_and_locale(
    settings: Settings, processed: tuple[dict[str, str], str, str], tmp_path: Path
) -> None:
    ids, _, _ = processed
    for external_id in ids:
        code, said = cli(settings, "documents", "invoice", ids[external_id], "-o", str(tmp_path))
        assert code == 0, said

    russian = words(tmp_path / f"invoice-{ids['DOC-RU']}.pdf")
    for expected in (
        "Счёт",
        ids["DOC-RU"],
        "Иван Петров",
        "ул. Тверская, 7",
        "125009 Москва",
        "Россия",
        "MUG-BLUE 2 1 190,00 ₽ 2 380,00 ₽",
        "BEANS-DARK 1 2 090,00 ₽ 2 090,00 ₽",
        "Товары 4 470,00 ₽",
        "Доставка 490,00 ₽",
        "Итого 4 960,00 ₽",
        "В том числе НДС 20 % 826,67 ₽",
        "Банковская карта",
    ):
        assert expected in russian, f"{expected!r} not in {russian!r}"

    chinese = words(tmp_path / f"invoice-{ids['DOC-ZH']}.pdf")
    for expected in (
        "发票",
        "张伟",
        "浦东新区世纪大道88号",
        "200120 上海",
        "中国",
        "KETTLE-STEEL 15 ¥389.00 ¥5,835.00",
        "总计 ¥6,092.00",
        "其中增值税 13% ¥700.86",
    ):
        assert expected in chinese, f"{expected!r} not in {chinese!r}"

    english = words(tmp_path / f"invoice-{ids['DOC-EN']}.pdf")
    for expected in (
        "Invoice",
        "Jane Doe",
        "doc-en@example.com",
        "Total 120,95 €",
        "Including VAT 19 % 18,60 €",
        "Including VAT 7 % 0,32 €",
        "Cash on delivery",
    ):
        assert expected in english, f"{expected!r} not in {english!r}"


def test_each_parcel_has_a_slip_and_a_label_whose_barcode_is_its_label_code(
    settings: Settings, processed: tuple[dict[str, str], str, str], tmp_path: Path
) -> None:
    ids, _, _ = processed
    zh = ids["DOC-ZH"]
    for kind in ("slip", "label"):
        code, said = cli(settings, "documents", kind, zh, "-o", str(tmp_path))
        assert code == 0, said
    dbs = WorkerDatabases(settings, ["warehouse", "shipping"])
    try:
        with dbs.session("warehouse") as session:
            fulfillment = session.get(Fulfillment, zh)
            assert fulfillment is not None
            parcels = [(p.number, p.label_code, dict(p.items)) for p in fulfillment.parcels]
        with dbs.session("shipping") as session:
            shipment = session.get(Shipment, zh)
            assert shipment is not None
            carrier, service, tracking = (
                shipment.carrier,
                shipment.service,
                shipment.tracking_number,
            )
    finally:
        dbs.dispose()
    assert [(number, code) for number, code, _ in parcels] == [(1, f"{zh}-1/2"), (2, f"{zh}-2/2")]
    assert sum(items.get("KETTLE-STEEL", 0) for _, _, items in parcels) == 15

    for number, label_code, items in parcels:
        label = tmp_path / f"label-{zh}-{number}.pdf"
        assert barcodes(label, tmp_path) == [f"CODE-128:{label_code}"]
        printed = words(label)
        for expected in (
            f"{carrier} {str(service).upper()}",
            "加急配送",
            f"包裹 {number}/2",
            "收货人 张伟 浦东新区世纪大道88号 200120 上海 中国",
            f"运单号: {tracking}",
            str(label_code),
        ):
            assert expected in printed, f"{expected!r} not in {printed!r}"
        slip = words(tmp_path / f"slip-{zh}-{number}.pdf")
        assert f"装箱单 订单: {zh}" in slip, slip
        for sku, quantity in items.items():
            assert f"{sku} {quantity}" in slip, slip


def test_a_cash_on_delivery_label_says_what_to_collect_in_the_customers_locale(
    settings: Settings, processed: tuple[dict[str, str], str, str], tmp_path: Path
) -> None:
    ids, _, _ = processed
    code, said = cli(settings, "documents", "label", ids["DOC-EN"], "-o", str(tmp_path))
    assert code == 0, said

    label = tmp_path / f"label-{ids['DOC-EN']}-1.pdf"
    assert barcodes(label, tmp_path) == [f"CODE-128:{ids['DOC-EN']}-1/1"]
    assert "Cash on delivery: collect 120,95 €" in words(label)


def test_an_order_that_is_not_there_is_refused_with_exit_1(
    settings: Settings, processed: tuple[dict[str, str], str, str], tmp_path: Path
) -> None:
    code, said = cli(settings, "documents", "label", "ord_nope", "-o", str(tmp_path))
    assert code == 1
    assert "no order has the id 'ord_nope'" in said


def test_a_wave_is_the_orders_that_became_ready_in_its_window(
    settings: Settings, processed: tuple[dict[str, str], str, str], tmp_path: Path
) -> None:
    _, since, until = processed
    before = (datetime.fromisoformat(since) - timedelta(hours=1)).isoformat()
    after = (datetime.fromisoformat(until) + timedelta(hours=1)).isoformat()

    for start, end in ((before, since), (until, after)):
        code, said = cli(
            settings,
            "documents",
            "pick-list",
            "--since",
            start,
            "--until",
            end,
            "-o",
            str(tmp_path),
        )
        assert (code, " ".join(said.split())) == (
            1,
            "error: no order became ready to pick in that window",
        )
    assert list(tmp_path.iterdir()) == []
