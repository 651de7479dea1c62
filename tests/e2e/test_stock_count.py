"""A physical count before a sale event, on the real RabbitMQ and PostgreSQL, every worker its
own process and ``orderflow stock count`` run in this process.

Two orders hold blue mugs: an older one paid by bank transfer (it waits for the money, its
reservation kept) and a newer one paid by card (captured; the warehouse takes its time to
pack, so its goods are still reserved). The count finds more green tea (found), fewer beans
(damaged) and fewer mugs than both orders reserved (lost). What the broker carries is checked
as a partner bound to the events exchange sees it: one ``stock.adjusted`` per SKU that
changed, the ``stock.counted`` report and a ``stock.unavailable`` for the newer order only,
which intake then cancels as out of stock and payment refunds. The count sent again changes
nothing. Then the workers stop and the four invariants are audited.

A count while parcels wait for the carrier (shipping held down, so a packed order is not
dispatched): the units in the parcel are on the books but off the shelf, and the count posts as
lost only what the shelf lacks beyond them; the packed order keeps its goods and leaves when
shipping is back. A count of the shelves taken before the order was packed, sent after, says
when it was taken and finds the books as they were then: nothing in parcels, nothing found.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Queue
from kombu.simple import SimpleQueue
from sqlalchemy import select

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.operator.audit import audit
from orderflow.operator.operations import await_listed, set_stock
from services.intake.model import Order
from services.stock.model import LedgerEntry, Reservation
from services.stock.store import StockUnitOfWork
from shared.contracts import OrderLine, PaymentMethod
from shared.envelope import Envelope
from shared.settings import Settings
from shared.topology import Topology
from tests.e2e.test_cli import cli_for
from tests.factories import order_submit, paid_by
from tests.support import started_cluster, wait_until

TIMES = {
    "ORDERFLOW_WAREHOUSE_PACKING_SECONDS": "600",  # a paid order's goods stay reserved
    "ORDERFLOW_PAYMENT_WINDOW_SECONDS": "600",  # and so do a transfer's, while it waits
    "ORDERFLOW_TIMER_POLL_SECONDS": "0.05",
}
PACKED_AT_ONCE = {"ORDERFLOW_TIMER_POLL_SECONDS": "0.05"}
SHELF = {"MUG-BLUE": 10, "TEA-GREEN": 5, "BEANS-DARK": 4}
COUNT = "sku,counted,location,reason\nMUG-BLUE,5,,\nTEA-GREEN,7,A-02-09,\nBEANS-DARK,1,,damaged\n"


@pytest.fixture
def cluster(settings: Settings, tmp_path: Path) -> Iterator[tuple[ProcessCluster, WorkerDatabases]]:
    with started_cluster(settings, tmp_path, TIMES) as running:
        yield running


@pytest.fixture
def packing_cluster(
    settings: Settings, tmp_path: Path
) -> Iterator[tuple[ProcessCluster, WorkerDatabases]]:
    with started_cluster(settings, tmp_path, PACKED_AT_ONCE) as running:
        yield running


@pytest.fixture
def stock_events(settings: Settings) -> Iterator[SimpleQueue]:
    """What stock announces on the events exchange, as a partner bound to ``stock.#`` sees it."""
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    name = f"{settings.namespace}.count-probe"
    queue = Queue(name, exchange=topology.events, routing_key="stock.#", auto_delete=True)
    with Connection(settings.broker_url) as connection:
        probe = connection.SimpleQueue(queue)
        yield probe
        probe.close()  # the queue goes with its consumer


def heard(probe: SimpleQueue, wanted: dict[str, int], timeout: float = 30) -> list[Envelope]:
    """Take what the probe hears until ``wanted`` (type: how many) has arrived; all of it."""
    got: list[Envelope] = []

    def arrived() -> bool:
        try:
            message = probe.get(timeout=0.2)
        except probe.Empty:
            pass
        else:
            message.ack()
            got.append(Envelope.model_validate_json(message.body))
        return all(sum(e.type == t for e in got) >= n for t, n in wanted.items())

    wait_until(arrived, timeout, what=f"{wanted} at the broker")
    return got


def submit(channel: ChannelPublisher, external_id: str, method: str, *lines: OrderLine) -> None:
    order = order_submit(external_id=external_id, lines=list(lines), payment=paid_by(method))
    channel.send([submit_envelope(order.model_dump(mode="json"))])


def order(dbs: WorkerDatabases, external_id: str) -> Order | None:
    with dbs.session("intake") as session:
        return session.scalars(select(Order).where(Order.external_id == external_id)).first()


def announced(dbs: WorkerDatabases, order_id: str, kind: str) -> bool:
    return any(entry.type == kind for entry in dbs.timeline(order_id))


def test_a_count_posts_its_adjustments_and_sends_the_newest_short_order_to_be_cancelled(
    settings: Settings,
    cluster: tuple[ProcessCluster, WorkerDatabases],
    stock_events: SimpleQueue,
    tmp_path: Path,
) -> None:
    processes, dbs = cluster
    run = cli_for(processes)
    for sku, quantity in SHELF.items():
        set_stock(settings, sku, quantity, None, None)
    await_listed(settings, list(SHELF))
    with ChannelPublisher(settings) as channel:
        submit(channel, "COUNT-OLD", PaymentMethod.BANK_TRANSFER, _line("MUG-BLUE", 3))
        wait_until(lambda: _status(dbs, "COUNT-OLD") == "awaiting_payment", 30, what="old waits")
        newer = [_line("MUG-BLUE", 4), _line("TEA-GREEN", 1)]
        submit(channel, "COUNT-NEW", PaymentMethod.CARD, *newer)
        wait_until(lambda: _captured(dbs, "COUNT-NEW"), 30, what="the new order paid")
    old, new = _id(dbs, "COUNT-OLD"), _id(dbs, "COUNT-NEW")
    heard(stock_events, {"stock.reserved": 2})  # what came before the count
    count = tmp_path / "count.csv"
    count.write_text(COUNT + "LAMP-NEW,2,,\n")
    code, said = run("stock", "count", str(count))
    assert code == 2, said
    assert "line 5, column sku: stock does not keep LAMP-NEW" in said, said
    count.write_text(COUNT)

    code, said = run("stock", "count", str(count), "--count-id", "cnt-e2e")

    said = " ".join(re.sub(r"[^\w\s+\-:.,()]", " ", said).split())  # the table's borders gone
    assert code == 0, said
    assert "sent stock.count for count:cnt-e2e" in said, said
    for row in (
        "MUG-BLUE 10 0 5 -5 lost",
        "BEANS-DARK 4 0 1 -3 damaged",
        "TEA-GREEN 5 0 7 +2 found",
    ):
        assert row in said, f"{row!r} not in: {said}"
    assert "3 SKUs counted, 0 as the books say, 3 adjusted" in said, said
    assert f"cancelled as out of stock (refunded if paid): {new}" in said, said
    wanted = {"stock.counted": 1, "stock.adjusted": 3, "stock.unavailable": 1}
    events = heard(stock_events, wanted)
    by_type = {e.type: [x for x in events if x.type == e.type] for e in events}
    adjusted = {
        e.subject: _fields(e.data, "quantity", "on_hand", "reason", "count_id")
        for e in by_type["stock.adjusted"]
    }
    assert adjusted == {
        "sku:MUG-BLUE": (-5, 5, "lost", "cnt-e2e"),
        "sku:TEA-GREEN": (2, 7, "found", "cnt-e2e"),
        "sku:BEANS-DARK": (-3, 1, "damaged", "cnt-e2e"),
    }
    [short] = by_type["stock.unavailable"]
    assert short.subject == new
    assert short.data["shortages"] == [{"sku": "MUG-BLUE", "requested": 4, "available": 2}]
    [counted] = by_type["stock.counted"]
    assert (counted.subject, counted.data["short_orders"]) == ("count:cnt-e2e", [new])

    wait_until(lambda: _status(dbs, "COUNT-NEW") == "cancelled", 30, what="the new order cancelled")
    wait_until(lambda: announced(dbs, new, "payment.refunded"), 30, what="its refund")
    found = order(dbs, "COUNT-NEW")
    assert found is not None and found.cancel_reason == "out_of_stock"
    assert _status(dbs, "COUNT-OLD") == "awaiting_payment"  # the older order keeps its goods

    code, said = run("stock", "count", str(count), "--count-id", "cnt-e2e", "--format", "json")
    assert code == 0, said
    assert "count cnt-e2e was applied already" in said, said
    report, _ = json.JSONDecoder().raw_decode(said)  # stdout first, then the note on stderr
    assert report == {**counted.data, "count_id": "cnt-e2e"}
    with dbs.session("stock") as session:
        ledger = session.scalars(select(LedgerEntry).where(LedgerEntry.order_id == "cnt-e2e"))
        assert sorted((e.sku, e.movement, e.quantity) for e in ledger) == [
            ("BEANS-DARK", "damaged", -3),
            ("MUG-BLUE", "lost", -5),
            ("TEA-GREEN", "found", 2),
        ]

    wait_until(lambda: audit(dbs).ok, 20, what="the workers to settle")
    assert set(processes.stop().values()) == {0}
    report = audit(dbs)
    assert report.violations == []
    assert report.waiting == [old], "the older order waits for its transfer, on its deadline"


def test_a_count_while_a_parcel_waits_for_the_carrier_posts_no_lost_units_for_it(
    settings: Settings,
    packing_cluster: tuple[ProcessCluster, WorkerDatabases],
    stock_events: SimpleQueue,
    tmp_path: Path,
) -> None:
    processes, dbs = packing_cluster
    run = cli_for(processes)
    for sku, quantity in SHELF.items():
        set_stock(settings, sku, quantity, None, None)
    await_listed(settings, list(SHELF))
    [shipping] = [r for r in processes.alive() if r.name == "shipping"]
    shipping.process.send_signal(signal.SIGTERM)
    assert shipping.process.wait(20) == 0
    shelves_counted = datetime.now(UTC)  # before the order: every unit on the shelf
    with ChannelPublisher(settings) as channel:
        submit(
            channel, "COUNT-PACKED", PaymentMethod.CARD, _line("MUG-BLUE", 4), _line("TEA-GREEN", 2)
        )
        wait_until(lambda: order(dbs, "COUNT-PACKED") is not None, 30, what="the order placed")
    packed = _id(dbs, "COUNT-PACKED")
    wait_until(lambda: _packed(dbs, packed), 30, what="stock to hear the order packed")
    heard(stock_events, {"stock.reserved": 1})
    earlier = tmp_path / "earlier.csv"
    earlier.write_text("sku,counted\nMUG-BLUE,10\nTEA-GREEN,5\n")

    code, said = run(
        "stock", "count", str(earlier), "--count-id", "cnt-earlier",
        "--counted-at", shelves_counted.isoformat(),
    )  # fmt: skip

    assert code == 0, said
    [counted] = [e for e in heard(stock_events, {"stock.counted": 1}) if e.type == "stock.counted"]
    assert [
        _fields(line, "sku", "books", "in_parcels", "difference") for line in counted.data["lines"]
    ] == [("MUG-BLUE", 10, 0, 0), ("TEA-GREEN", 5, 0, 0)], "packed after the shelves were counted"
    count = tmp_path / "count.csv"
    count.write_text("sku,counted\nMUG-BLUE,5\nTEA-GREEN,3\n")  # 4 and 2 are in the parcel

    code, said = run("stock", "count", str(count), "--count-id", "cnt-packed")

    said = " ".join(re.sub(r"[^\w\s+\-:.,()]", " ", said).split())
    assert code == 0, said
    assert "MUG-BLUE 10 4 5 -1 lost" in said, said
    assert "2 SKUs counted, 1 as the books say, 1 adjusted" in said, said
    events = heard(stock_events, {"stock.counted": 1, "stock.adjusted": 1})
    events += quiet(stock_events, 2.0)
    assert sorted(e.type for e in events) == ["stock.adjusted", "stock.counted"]
    [adjusted] = [e for e in events if e.type == "stock.adjusted"]
    assert adjusted.subject == "sku:MUG-BLUE"
    assert _fields(adjusted.data, "quantity", "on_hand", "reason") == (-1, 9, "lost")
    [counted] = [e for e in events if e.type == "stock.counted"]
    assert counted.data["short_orders"] == []
    assert [
        _fields(line, "sku", "books", "in_parcels", "difference") for line in counted.data["lines"]
    ] == [
        ("MUG-BLUE", 10, 4, -1),
        ("TEA-GREEN", 5, 2, 0),
    ]

    processes.restart(shipping)
    heard(stock_events, {"stock.committed": 1})
    with dbs.session("stock") as session:
        levels = {i.sku: (i.on_hand, i.reserved) for i in StockUnitOfWork(session).items.all()}
    assert (levels["MUG-BLUE"], levels["TEA-GREEN"]) == ((5, 0), (3, 0))  # what the shelf holds
    wait_until(lambda: audit(dbs).ok, 20, what="the workers to settle")
    assert set(processes.stop().values()) == {0}
    report = audit(dbs)
    assert report.violations == []
    assert announced(dbs, packed, "shipment.dispatched"), "the packed order left, goods and all"


def quiet(probe: SimpleQueue, seconds: float) -> list[Envelope]:
    """What else the probe hears in ``seconds``: a transaction's events are relayed together."""
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            message = probe.get(timeout=0.2)
        except probe.Empty:
            continue
        message.ack()
        got.append(Envelope.model_validate_json(message.body))
    return got


def _packed(dbs: WorkerDatabases, order_id: str) -> bool:
    with dbs.session("stock") as session:
        reservation = session.get(Reservation, order_id)
        return reservation is not None and reservation.in_parcels


def _status(dbs: WorkerDatabases, external_id: str) -> str | None:
    found = order(dbs, external_id)
    return None if found is None else found.status


def _id(dbs: WorkerDatabases, external_id: str) -> str:
    found = order(dbs, external_id)
    assert found is not None
    return found.id


def _captured(dbs: WorkerDatabases, external_id: str) -> bool:
    found = order(dbs, external_id)
    return found is not None and announced(dbs, found.id, "payment.captured")


def _fields(data: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(data[name] for name in names)


def _line(sku: str, quantity: int) -> OrderLine:
    return OrderLine(sku=sku, quantity=quantity, unit_price=1000)
