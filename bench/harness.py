"""Every worker as its own process on a fresh namespace, the shelves stocked, and what the bench
reads while the saga runs: completions, mail left to send, the queues' backlog, milestones."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select

from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.operator.operations import await_listed, set_stock
from orderflow.rehearse.watch import ZERO_DELAYS, Watch
from orderflow.scenarios.catalogue import CATALOGUE
from services.notifier.model import Notification, NotificationStatus
from shared.settings import Settings


class BenchCluster(Watch):
    def __init__(self, settings: Settings, cluster: ProcessCluster, dbs: WorkerDatabases) -> None:
        super().__init__(settings, dbs)
        self.cluster = cluster

    def wait_completed(self, count: int, timeout: float | None = None) -> float:
        """Until ``count`` orders are completed in all; returns when that was seen."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.completed() < count:
            self.cluster.check_alive()
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} orders completed after {timeout} s")
            time.sleep(0.25)
        return time.time()

    def unsent_mail(self) -> tuple[int, int]:
        """E-mails still to go: events waiting in the notifier's queue, and notifications
        recorded but not yet sent (or refused)."""
        unsettled = (
            NotificationStatus.WAITING,
            NotificationStatus.PENDING,
            NotificationStatus.SENDING,
        )
        with self.dbs.session("notifier") as session:
            query = select(func.count()).where(Notification.status.in_(unsettled))
            return self.queued("notifier"), int(session.scalar(query) or 0)

    def wait_mail_sent(self) -> float:
        """Until every e-mail is sent; returns when that was seen."""
        while sum(self.unsent_mail()):
            self.cluster.check_alive()
            time.sleep(0.25)
        return time.time()


@contextmanager
def bench_cluster(
    settings: Settings, log_dir: Path, replicas: Mapping[str, int]
) -> Iterator[BenchCluster]:
    """Every worker started with zero delays, the catalogue stocked and listed at intake.
    Without reporting, nobody publishes the event batches that only reporting reads: what they
    cost is reporting's."""
    env = dict(ZERO_DELAYS)
    if replicas.get("reporting") == 0:
        env["ORDERFLOW_PUBLISH_EVENT_BATCHES"] = "false"
    cluster = ProcessCluster(settings, log_dir, env=env, replicas=replicas, metrics_port_base=19100)
    cluster.start()
    dbs = WorkerDatabases(settings)
    bench = BenchCluster(settings, cluster, dbs)
    try:
        for product in CATALOGUE:
            set_stock(settings, product.sku, 10_000_000, product.location, product.weight_grams)
        await_listed(settings, [product.sku for product in CATALOGUE])
        yield bench
    finally:
        bench.close()
        dbs.dispose()
        cluster.stop()
