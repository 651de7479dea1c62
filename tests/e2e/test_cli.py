"""The ``orderflow`` command against the real thing: every worker its own process on RabbitMQ and
PostgreSQL, the CLI run in this process with the same ORDERFLOW_* settings the workers get.

One card order is submitted through ``orderflow submit`` and delivered; then customer service
acts on it through the CLI: looks at it, tries to cancel it (too late), asks for a return of more
than was bought (after-sales refuses), gets an RMA, records the parcel (one unit resellable, one
damaged), records it again (the RMA is closed), and resends a missing item. Each command prints
the deciding worker's answer and exits 0, 1 (the worker refused) or 2 (refused before sending).
The return window is long, so the order stays open while the cases run; once they are closed the
workers are stopped and the invariants audited.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.operator.audit import audit
from orderflow.operator.operations import await_listed, set_stock
from orderflow.operator.views import money
from orderflow.scenarios.catalogue import PRICES
from services.aftersales.model import Case
from services.intake.model import Order
from shared.settings import Settings
from tests.support import started_cluster, wait_until

TIMES = {
    "ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS": "0.2",
    "ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS": "0.5",
    "ORDERFLOW_INTAKE_COMPLETION_WINDOW_SECONDS": "60",
    "ORDERFLOW_AFTERSALES_RETURN_WINDOW_SECONDS": "60",
    "ORDERFLOW_AFTERSALES_SEND_BACK_SECONDS": "60",
    "ORDERFLOW_TIMER_POLL_SECONDS": "0.05",
}
EXTERNAL_ID = "CLI-1"
SUBMISSION = {
    "channel": "web",
    "external_id": EXTERNAL_ID,
    "customer": {"name": "Test Customer", "email": "customer@example.com", "language": "en"},
    "lines": [
        {"sku": "MUG-BLUE", "quantity": 2, "unit_price": PRICES["MUG-BLUE"]},
        {"sku": "TEA-GREEN", "quantity": 1, "unit_price": PRICES["TEA-GREEN"]},
    ],
    "currency": "EUR",
    "shipping_fee": 495,
    "delivery": {
        "option": "standard",
        "address": {
            "line1": "Invalidenstr. 117",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
    },
    "payment": {"method": "card", "token": "tok_visa"},
}


@pytest.fixture
def cluster(settings: Settings, tmp_path: Path) -> Iterator[tuple[ProcessCluster, WorkerDatabases]]:
    with started_cluster(settings, tmp_path, TIMES) as running:
        yield running


Run = Callable[..., tuple[int, str]]


def cli_for(processes: ProcessCluster) -> Run:
    """``orderflow <args>`` in this process, with the ORDERFLOW_* environment the workers get."""
    env: dict[str, str | None] = {
        name: value
        for name, value in processes.environment().items()
        if name.startswith("ORDERFLOW_")
    }
    env["ORDERFLOW_DATABASE_URLS"] = None
    runner = CliRunner(env=env)

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, " ".join((result.stdout + result.stderr).split())

    return run


def test_customer_service_acts_on_a_delivered_order_through_the_cli(
    settings: Settings, cluster: tuple[ProcessCluster, WorkerDatabases], tmp_path: Path
) -> None:
    processes, dbs = cluster
    run = cli_for(processes)
    for sku in ("MUG-BLUE", "TEA-GREEN"):
        set_stock(settings, sku, 20, None, None)
    await_listed(settings, ["MUG-BLUE", "TEA-GREEN"])
    submission = tmp_path / "order.json"
    submission.write_text(json.dumps(SUBMISSION))

    code, said = run("submit", str(submission))
    assert code == 0, said
    assert f"submitted web:{EXTERNAL_ID} as message" in said, said

    def status() -> str | None:
        with dbs.session("intake") as session:
            order = session.scalars(select(Order).where(Order.external_id == EXTERNAL_ID)).first()
            return None if order is None else order.status

    wait_until(lambda: status() == "delivered", 30, what=f"{EXTERNAL_ID} delivered")
    with dbs.session("intake") as session:
        order_id = session.scalars(select(Order.id).where(Order.external_id == EXTERNAL_ID)).one()

    code, said = run("order", "show", order_id)
    assert code == 0, said
    for shown in (order_id, "delivered", "order.placed", "payment.captured", "shipment.delivered"):
        assert shown in said, f"{shown!r} not shown: {said}"

    code, said = run("order", "cancel", order_id, "--reason", "changed my mind")
    assert code == 2, said
    assert "is delivered: too late to cancel" in said, said
    assert "offer the customer a return" in said, said

    code, said = run("order", "return", order_id, "MUG-BLUE=5", "--reason", "all of them")
    assert code == 1, said
    assert "sent return.request" in said, said
    assert "refused (too_many)" in said, said
    assert "MUG-BLUE: 5 asked, 2 may still be returned" in said, said

    code, said = run("order", "return", order_id, "MUG-BLUE=2", "--reason", "too small")
    assert code == 0, said
    assert f"authorized: RMA {order_id}.1" in said, said
    assert "then they are refunded" in said, said

    rma = f"{order_id}.1"
    code, said = run("return", "receive", rma, "--resellable", "MUG-BLUE=3")
    assert code == 2, said
    assert f"MUG-BLUE: 3 came back but RMA {rma} authorized 2" in said, said

    code, said = run("return", "receive", rma, "--resellable", "MUG-BLUE=1", "--damaged=MUG-BLUE")
    assert code == 0, said
    refund = PRICES["MUG-BLUE"] + PRICES["MUG-BLUE"] * 50 // 100
    assert f"received: {money(refund, 'EUR')} to be refunded" in said, said

    code, said = run("return", "receive", rma, "--resellable", "MUG-BLUE=1")
    assert code == 2, said
    assert f"RMA {rma} is closed (refunded)" in said, said

    code, said = run("order", "resend", order_id, "TEA-GREEN=1", "--reason", "not in the parcel")
    assert code == 0, said
    assert f"sending again as {order_id}.2" in said, said

    code, said = run("order", "return", "nosuch", "MUG-BLUE=1", "--reason", "r")
    assert code == 2, said
    assert "no order has the id 'nosuch'" in said, said

    def cases_closed() -> bool:
        with dbs.session("aftersales") as session:
            query = select(Case).where(Case.order_id == order_id).order_by(Case.number)
            cases = session.scalars(query).all()
            return [(c.case_id, c.outcome) for c in cases] == [
                (rma, "refunded"),
                (f"{order_id}.2", "resent"),
            ]

    wait_until(cases_closed, 20, what="the refund and the resend to be done")
    wait_until(lambda: audit(dbs).ok, 10, what="the workers to settle")
    assert set(processes.stop().values()) == {0}, "a worker did not stop cleanly on SIGTERM"
    report = audit(dbs)
    assert report.violations == []
    assert status() in ("delivered", "in_aftersales")
    assert report.waiting == [order_id], "the order waits on its completion timer"

    code, said = run("order", "show", order_id)
    assert code == 0, said
    for shown in ("return.received", "payment.refunded", f"{money(refund, 'EUR')} (returned)"):
        assert shown in said, f"{shown!r} not shown: {said}"
