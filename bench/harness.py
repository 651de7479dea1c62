"""Every worker as its own process on a fresh namespace, the shelves stocked, and what the bench
reads while the saga runs: completions, mail left to send, the queues' backlog, milestones."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from kombu import Connection
from sqlalchemy import func, select

from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.cluster.registry import NAMES
from orderflow.operator.operations import await_listed, set_stock
from orderflow.scenarios.catalogue import CATALOGUE
from services.intake.store import IntakeUnitOfWork
from services.notifier.model import Notification, NotificationStatus
from shared.settings import Settings
from shared.topology import Topology

ZERO_DELAYS = {
    "ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS": "0",
    "ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS": "0",
    "ORDERFLOW_INTAKE_COMPLETION_WINDOW_SECONDS": "0",
}
MILESTONE_ROWS = {
    "placed": ("intake", "order.placed"),
    "dispatched": ("shipping", "shipment.dispatched"),
    "completed": ("intake", "order.completed"),
}
"""Where each milestone is recorded: the outbox row of the worker that announced it."""


class BenchCluster:
    def __init__(self, settings: Settings, cluster: ProcessCluster, dbs: WorkerDatabases) -> None:
        self.settings = settings
        self.cluster = cluster
        self.dbs = dbs
        self.topology = Topology(
            settings.namespace, settings.use_quorum_queues, settings.delivery_limit
        )
        self.broker = Connection(settings.broker_url)
        self.channel = self.broker.channel()

    def queued(self, worker: str) -> int:
        """Messages ready in ``worker``'s queue (those handed out and not yet acked are not
        counted: without the management plugin AMQP does not tell)."""
        _, ready, _ = self.channel.queue_declare(
            self.topology.worker_queue_name(worker), passive=True
        )
        return int(ready)

    def backlog(self) -> int:
        """Messages ready in all the workers' queues."""
        return sum(self.queued(worker) for worker in NAMES)

    def completed(self) -> int:
        with self.dbs.session("intake") as session:
            return IntakeUnitOfWork(session).orders.counts_by_status().get("completed", 0)

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

    def milestones(self) -> dict[str, dict[str, float]]:
        """When each order reached each milestone (by order id), from the outboxes."""
        reached = {}
        for milestone, (worker, type_name) in MILESTONE_ROWS.items():
            table = self.dbs.tables[worker].outbox.table
            with self.dbs.session(worker) as session:
                rows = session.execute(
                    select(table.c.subject, table.c.created_at).where(table.c.type == type_name)
                )
                reached[milestone] = {subject: stamp(at) for subject, at in rows}
        return reached

    def external_ids(self) -> dict[str, str]:
        with self.dbs.session("intake") as session:
            return {o.id: o.external_id for o in IntakeUnitOfWork(session).orders.recent(10**9)}

    def close(self) -> None:
        self.broker.close()


def stamp(at: datetime) -> float:
    return at.timestamp()


@contextmanager
def bench_cluster(
    settings: Settings, log_dir: Path, replicas: Mapping[str, int]
) -> Iterator[BenchCluster]:
    """Every worker started with zero delays, the catalogue stocked and listed at intake."""
    cluster = ProcessCluster(
        settings, log_dir, env=ZERO_DELAYS, replicas=replicas, metrics_port_base=19100
    )
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
