"""The demo from start to end: a fresh directory and namespace, every worker on a manual clock,
the shelves stocked by the operator's own actions and counted before the sale, the stories
played, the report shown."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console

from shared.clock import ManualClock, SystemClock
from shared.contracts import CountedSku, StockCount
from shared.envelope import wrap
from shared.settings import Settings

from ..cluster.channel import ChannelPublisher
from ..cluster.databases import WorkerDatabases
from ..cluster.embedded import Cluster
from ..operator.counts import applied, show_report
from ..operator.operations import unlisted_at_intake
from ..scenarios import STORIES
from ..scenarios.catalogue import SHELVES, stock_shelves
from ..scenarios.orders import extra
from ..scenarios.story import Ending, Story
from ..scenarios.terms import worker_settings
from .report import show, show_mail, show_manager_report
from .script import play


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
    started_at = clock.now()
    cluster = Cluster(settings, clock, worker_settings=worker_settings(workdir))
    cluster.start()
    try:
        stock_the_shelves(cluster, clock)
        extras = [Story(s, "", Ending("completed")) for s in extra(extra_orders)]
        dbs = WorkerDatabases(settings)
        try:
            count_the_shelves(console, cluster, settings, dbs)
            missed = play(console, cluster, clock, settings, dbs, [*STORIES, *extras])
            show(console, dbs, STORIES, extras, missed)
        finally:
            dbs.dispose()
    finally:
        cluster.close()
    show_mail(console, workdir / "mail")
    show_manager_report(console, settings, started_at, clock.now())
    console.print(
        f"\nDone in {time.monotonic() - started:.1f}s. The workers' databases are in {workdir}; "
        f"look at one order with:\n  ORDERFLOW_DATABASE_URL='sqlite:///{workdir}/{{worker}}.db' "
        "orderflow order show <order id>"
    )


def stock_the_shelves(cluster: Cluster, clock: ManualClock) -> None:
    """Stock every shelf as an operator would (``orderflow stock set``/``policy``), through the
    running stock worker, and wait until intake has heard stock list them all."""
    stock_shelves(cluster["stock"].operate, SHELVES, clock)
    intake = cluster["intake"].sessions
    assert intake is not None
    skus = [shelf.product.sku for shelf in SHELVES]
    cluster.pump_until(lambda: not unlisted_at_intake(intake, skus), "intake knows every SKU")


COUNTED = [
    CountedSku(sku="MUG-BLUE", counted=497),
    CountedSku(sku="TEA-GREEN", counted=802, location="A-02-05"),
    CountedSku(sku="BEANS-DARK", counted=599, reason="damaged"),
    CountedSku(sku="KETTLE-STEEL", counted=120),
]
"""The count before the sale: a few units off on plentiful shelves, so no story ends otherwise."""


def count_the_shelves(
    console: Console, cluster: Cluster, settings: Settings, dbs: WorkerDatabases
) -> None:
    """Count the shelves as ``orderflow stock count`` does: stock reconciles the count with its
    books and reports the discrepancies."""
    command = StockCount(count_id=f"count-{uuid.uuid4().hex[:8]}", lines=COUNTED)
    with ChannelPublisher(settings) as channel:
        channel.send([wrap(command, source="cli")])
    cluster.pump_until(lambda: applied(dbs, command.count_id) is not None, "the count applied")
    report = applied(dbs, command.count_id)
    assert report is not None
    console.print("\n[bold]Stock counted before the sale[/]")
    show_report(console, report)
