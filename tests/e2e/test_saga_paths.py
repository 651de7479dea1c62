"""Every story of ``orderflow.scenarios`` on the real RabbitMQ and PostgreSQL, each worker its
own process: the stories the demo tells, played in real time.

One cluster plays all stories at once. Durations are shrunk through the workers' settings:
carrier scans in fractions of a second, a fifteen-second payment deadline with reminders at six
and nine seconds, three seconds of picking and packing (the window in which a cancel still stops
a paid order), ten seconds of return window before a delivered order completes, and eight
seconds for an RMA's goods to come back, five seconds before the review timer rejects a held
order nobody reviewed. The outside world's moves keep the stories'
proportions: a story's day passes in a second (so a payment made "a day after" the bank details
still comes well before the first reminder, on a busy machine too). Each story must end as it
says (final state, announcements, what the customer is told); then the workers are stopped and
the four invariants audited from their own tables. Two messages no worker can handle are parked
on the way (a submission that is not JSON, goods for a SKU stock does not know), so the report's
parked figure has something to count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.cluster.registry import NAMES, build
from orderflow.operator.audit import audit
from orderflow.operator.operations import await_listed, stock_from_outside
from orderflow.reports.figures import Period, compute_from
from orderflow.reports.page import charts, html
from orderflow.reports.render import as_json
from orderflow.scenarios import STORIES
from orderflow.scenarios.catalogue import SHELVES, stock_shelves
from orderflow.scenarios.stage import Stage
from orderflow.scenarios.story import departures, orders_by_key
from services.intake.model import TERMINAL
from shared.clock import SystemClock
from shared.contracts import StockReceive
from shared.envelope import wrap
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from tests.e2e.report_checks import counted, parked_at_broker
from tests.e2e.report_page import screenshot
from tests.support import free_ports, started_cluster, wait_until

SHORT_TIMES = {
    "ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS": "0.3",
    "ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS": "0.6",
    "ORDERFLOW_SHIPPING_DELIVERY_ATTEMPTS": "2",
    "ORDERFLOW_SHIPPING_DELIVERY_RETRY_INTERVAL_SECONDS": "0.3",
    "ORDERFLOW_INTAKE_COMPLETION_WINDOW_SECONDS": "10",
    "ORDERFLOW_AFTERSALES_RETURN_WINDOW_SECONDS": "10",
    "ORDERFLOW_AFTERSALES_SEND_BACK_SECONDS": "8",
    "ORDERFLOW_PAYMENT_WINDOW_SECONDS": "15",
    "ORDERFLOW_PAYMENT_REMINDER_OFFSETS_SECONDS": "[6, 9]",
    "ORDERFLOW_WAREHOUSE_PACKING_SECONDS": "3",
    "ORDERFLOW_INTAKE_REVIEW_TIMEOUT_SECONDS": "5",
    "ORDERFLOW_TIMER_POLL_SECONDS": "0.05",
}
A_STORY_DAY = timedelta(seconds=1)


def pace(delay: timedelta) -> timedelta:
    return delay / timedelta(days=1) * A_STORY_DAY


@pytest.fixture
def cluster(settings: Settings, tmp_path: Path) -> Iterator[tuple[ProcessCluster, WorkerDatabases]]:
    with started_cluster(settings, tmp_path, SHORT_TIMES, free_ports(len(NAMES))) as running:
        yield running


def test_every_story_ends_as_it_says_and_the_invariants_hold(
    settings: Settings, cluster: tuple[ProcessCluster, WorkerDatabases], tmp_path: Path
) -> None:
    processes, dbs = cluster
    clock = SystemClock()
    stock_shelves(lambda action: stock_from_outside(settings, action, clock), SHELVES, clock)
    await_listed(settings, [shelf.product.sku for shelf in SHELVES])
    stage = Stage.of(STORIES, pace)
    park_two(settings)

    with ChannelPublisher(settings) as channel:
        channel.send([submit_envelope(s.submission) for s in STORIES for _ in range(s.submissions)])

        def every_move_made_and_every_order_ended() -> bool:
            commands = stage.act(dbs, datetime.now(UTC))
            if commands:
                channel.send(commands)
            orders = orders_by_key(dbs)
            ended = all(s.key in orders and orders[s.key].status in TERMINAL for s in STORIES)
            return ended and not stage.waiting

        try:
            wait_until(every_move_made_and_every_order_ended, 120, what="every story to end")
        except AssertionError:
            how = departures(dbs, STORIES)
            pytest.fail(f"moves never made: {stage.missed()}; stories astray so far: {how}")
    wrong: dict[str, list[str]] = {}

    def as_told() -> bool:
        """Ended is not yet as told for an order rejected and submitted again."""
        wrong.clear()
        wrong.update(departures(dbs, STORIES))
        return not wrong

    try:
        wait_until(as_told, 30, what="every story to end as it says")
    except AssertionError:
        pytest.fail(f"stories that did not end as they say: {wrong}")
    try:
        wait_until(lambda: reporting_heard_everything(processes, dbs), 30, what="reporting")
    except AssertionError:
        pytest.fail(f"events reporting did not hear, by type: {unheard(processes, dbs)}")
    wait_until(lambda: len(parked_at_broker(settings)) >= 2, 30, what="both messages parked")
    assert set(processes.stop().values()) == {0}
    assert audit(dbs).violations == []
    mails = list((tmp_path / "mail" / "new").iterdir())
    assert mails, "the notifier delivered no e-mail"
    the_report_matches_the_workers_tables(settings, dbs, tmp_path)


def reporting_heard_everything(processes: ProcessCluster, dbs: WorkerDatabases) -> bool:
    return not unheard(processes, dbs)


def unheard(processes: ProcessCluster, dbs: WorkerDatabases) -> dict[str, int]:
    """Per type reporting hears: how many more events the other workers' outboxes hold than
    reporting says it handled on its /metrics (it keeps no inbox)."""
    wanted = [contract.type for contract in build("reporting").subscriptions]
    missing: Counter[str] = Counter()
    for worker in dbs.sessions:
        if worker == "reporting":
            continue
        table = dbs.tables[worker].outbox.table
        with dbs.session(worker) as session:
            query = select(table.c.type, func.count()).where(table.c.type.in_(wanted))
            for type_name, count in session.execute(query.group_by(table.c.type)):
                missing[type_name] += count
    handled = "orderflow_messages_total"
    heard = processes.scrape(handled, by="type", worker="reporting", outcome="handled")
    missing.subtract({type_name: int(count) for type_name, count in heard.items()})
    return {type_name: count for type_name, count in missing.items() if count > 0}


def the_report_matches_the_workers_tables(
    settings: Settings, dbs: WorkerDatabases, tmp_path: Path
) -> None:
    """Every figure ``orderflow report`` prints for these orders, against the same figure counted
    from the workers' own tables (``tests/e2e/report_checks.py``); its HTML page rendered in
    headless Chromium."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    period = Period(today - timedelta(days=1), today + timedelta(days=2))
    figures = compute_from(settings, period, top=1000)
    printed = as_json(figures)
    for figure, expected in counted(dbs).items():
        assert _plain(printed[figure]) == _plain(expected), figure
    mixed = (
        printed["orders"],
        printed["rejected_submissions"],
        printed["cancelled"]["count"],
        printed["returned_units"]["count"],
        printed["backorders"],
        printed["unpaid_expired"]["count"],
        len(printed["revenue_minor_units"]),
        printed["parked"]["count"],
    )
    assert min(mixed) > 0, f"a figure the stories should move is zero: {mixed}"
    the_parked_figure_is_the_brokers(settings, printed)
    page = tmp_path / "report.html"
    page.write_text(html(figures), encoding="utf-8")
    screenshot(page, len(charts(figures)))


def park_two(settings: Settings) -> None:
    """A submission that is not JSON (intake parks it) and goods for a SKU nobody stocks
    (stock's handler raises a PermanentError), each to the one worker that takes it."""
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    receipt = wrap(StockReceive(receipt_id="GR-NONE", sku="NOT-STOCKED", quantity=1), source="erp")
    link = BrokerLink(settings.broker_url)
    link.connect()
    try:
        link.publish_confirmed(
            [
                Outgoing(b"{not json", topology.commands, "order.submit", "bad-1"),
                Outgoing(receipt.encode(), topology.commands, "stock.receive", receipt.id),
            ]
        )
    finally:
        link.close()


def the_parked_figure_is_the_brokers(settings: Settings, printed: dict[str, Any]) -> None:
    """What the report counts as parked, per worker, is what the broker counts in each parking
    queue; reading the lots for the report took none of it away."""
    at_broker = parked_at_broker(settings)
    parked = printed["parked"]
    assert parked["read"] is True, parked
    assert parked["by_worker"] == at_broker
    assert parked["count"] == sum(at_broker.values()) == printed["errors"]["parked"]["count"]
    assert Counter(parked["by_reason"]) >= Counter(malformed=1, handler_error=1), parked
    assert parked["per_1000_orders"] == round(1000 * parked["count"] / printed["orders"], 2)
    assert parked_at_broker(settings) == at_broker


def _plain(value: Any) -> Any:
    """A figure as JSON would say it: counters as dicts, rates and lead times without shares."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if k != "share" and v != 0}
    return value
