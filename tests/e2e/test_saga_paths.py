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
the four invariants audited from their own tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.operator.audit import audit
from orderflow.operator.operations import await_listed, stock_from_outside
from orderflow.scenarios import STORIES
from orderflow.scenarios.catalogue import SHELVES, stock_shelves
from orderflow.scenarios.stage import Stage
from orderflow.scenarios.story import departures, orders_by_key
from services.intake.model import TERMINAL
from shared.clock import SystemClock
from shared.settings import Settings
from tests.support import started_cluster, wait_until

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
    with started_cluster(settings, tmp_path, SHORT_TIMES) as running:
        yield running


def test_every_story_ends_as_it_says_and_the_invariants_hold(
    settings: Settings, cluster: tuple[ProcessCluster, WorkerDatabases], tmp_path: Path
) -> None:
    processes, dbs = cluster
    clock = SystemClock()
    stock_shelves(lambda action: stock_from_outside(settings, action, clock), SHELVES, clock)
    await_listed(settings, [shelf.product.sku for shelf in SHELVES])
    stage = Stage.of(STORIES, pace)

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
    assert set(processes.stop().values()) == {0}
    assert audit(dbs).violations == []
    mails = list((tmp_path / "mail" / "new").iterdir())
    assert mails, "the notifier delivered no e-mail"
