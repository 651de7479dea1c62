"""Order review through the ``orderflow`` CLI against the real thing: every worker its own process
on RabbitMQ and PostgreSQL.

Three orders are submitted: two billed in France and shipped to Germany (the country rule holds
them) and one over the review amount. ``review list`` shows all three with their reasons; a
reviewer approves one (payment charges it and it is delivered), rejects another (cancelled,
nothing charged, stock released, the customer e-mailed) and leaves the third to the review timer,
which approves it as the settings say. A decision on an order no longer held is refused before
it is sent. Then the workers are stopped and the invariants audited.
"""

from __future__ import annotations

import json
import mailbox
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.operator.audit import audit
from orderflow.operator.operations import await_listed, set_stock
from services.intake.model import Order
from services.payment.store import MoneyMoved, PaymentUnitOfWork
from shared.settings import Settings
from tests.e2e.test_cli import SUBMISSION, TIMES, cli_for
from tests.e2e.test_currencies import text
from tests.support import started_cluster, wait_until

REVIEW = {
    "ORDERFLOW_INTAKE_REVIEW_AMOUNT_OVER": '{"EUR": "100"}',
    "ORDERFLOW_INTAKE_REVIEW_TIMEOUT_SECONDS": "15",
    "ORDERFLOW_INTAKE_REVIEW_TIMEOUT_DECISION": "approve",
}


@pytest.fixture
def cluster(settings: Settings, tmp_path: Path) -> Iterator[tuple[ProcessCluster, WorkerDatabases]]:
    with started_cluster(settings, tmp_path, {**TIMES, **REVIEW}) as running:
        yield running


def submission(external_id: str, **changes: Any) -> dict[str, Any]:
    return {**SUBMISSION, "external_id": external_id, **changes}


def test_a_reviewer_approves_and_rejects_held_orders_and_the_timer_decides_the_rest(
    settings: Settings, cluster: tuple[ProcessCluster, WorkerDatabases], tmp_path: Path
) -> None:
    processes, dbs = cluster
    run = cli_for(processes)
    for sku in ("MUG-BLUE", "TEA-GREEN"):
        set_stock(settings, sku, 50, None, None)
    await_listed(settings, ["MUG-BLUE", "TEA-GREEN"])
    big = [{"sku": "MUG-BLUE", "quantity": 10, "unit_price": 1250}]
    orders = tmp_path / "orders.json"
    orders.write_text(
        json.dumps(
            [
                submission("REV-1", billing_country="FR"),
                submission("REV-2", billing_country="FR"),
                submission("REV-3", lines=big),
            ]
        )
    )

    def by_external_id() -> dict[str, Order]:
        with dbs.session("intake") as session:
            found = session.scalars(select(Order).where(Order.external_id.like("REV-%"))).all()
            return {order.external_id: order for order in found}

    code, said = run("submit", str(orders))
    assert code == 0, said
    wait_until(lambda: len(by_external_id()) == 3, 20, what="intake to place the three orders")
    ids = {external: order.id for external, order in by_external_id().items()}

    code, said = run("review", "list", "--format", "json")
    assert code == 0, said
    listed = {held["order_id"]: held["reasons"] for held in json.loads(said)}
    assert listed == {
        ids["REV-1"]: ["country_mismatch: billed in FR, shipped to DE"],
        ids["REV-2"]: ["country_mismatch: billed in FR, shipped to DE"],
        ids["REV-3"]: ["amount: total 129.95 EUR is over 100.00 EUR"],
    }

    code, said = run("review", "approve", ids["REV-1"], "--reviewer", "rita")
    assert code == 0, said
    assert "approved by rita: payment charges it now" in said, said

    code, said = run(
        "review", "reject", ids["REV-2"], "--reviewer", "rita", "--reason", "card reported stolen"
    )
    assert code == 0, said
    assert "rejected: cancelled, nothing was charged" in said, said

    code, said = run("review", "approve", ids["REV-2"], "--reviewer", "rita")
    assert code == 2, said
    assert "is cancelled (review_rejected), not held for review" in said, said

    def statuses() -> dict[str, str]:
        return {external: order.status for external, order in by_external_id().items()}

    ended = {"REV-1": "delivered", "REV-2": "cancelled", "REV-3": "delivered"}
    wait_until(lambda: statuses() == ended, 45, what=f"the orders to end as {ended}")
    rejected = by_external_id()["REV-2"]
    assert (rejected.cancel_reason, rejected.reviewed_by) == ("review_rejected", "rita")
    assert by_external_id()["REV-3"].reviewed_by == ""
    with dbs.session("payment") as session:
        payments = PaymentUnitOfWork(session).payments
        assert payments.money_moved(ids["REV-2"]) == MoneyMoved()
        assert payments.money_moved(ids["REV-1"]).captured > 0
    wait_until(lambda: audit(dbs).ok, 15, what="the workers to settle")
    assert set(processes.stop().values()) == {0}
    assert audit(dbs).violations == []
    told = [text(mail) for mail in mailbox.Maildir(tmp_path / "mail")]
    assert any("we could not approve it after reviewing it" in mail for mail in told)
