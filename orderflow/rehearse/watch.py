"""What a rehearsal (and the bench) reads while the saga runs, all from the workers' own places:
the messages ready in their queues, the orders intake completed, when each order reached each
milestone (the announcing worker's outbox row) and when each worker took each message up (its
inbox row)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kombu import Connection
from sqlalchemy import select

from services.intake.store import IntakeUnitOfWork
from shared.brokers import OPERATOR
from shared.settings import Settings
from shared.topology import Topology

from ..cluster.databases import WorkerDatabases
from ..cluster.registry import NAMES

ZERO_DELAYS = {
    "ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS": "0",
    "ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS": "0",
    "ORDERFLOW_INTAKE_COMPLETION_WINDOW_SECONDS": "0",
}
"""The carrier's simulated journey and the complaint window, shrunk to nothing: an order
completes as soon as every worker has done its part."""
MILESTONE_ROWS = {
    "placed": ("intake", "order.placed"),
    "dispatched": ("shipping", "shipment.dispatched"),
    "completed": ("intake", "order.completed"),
}
"""Where each milestone is recorded: the outbox row of the worker that announced it."""


class Watch:
    def __init__(
        self, settings: Settings, dbs: WorkerDatabases, names: Iterable[str] = NAMES
    ) -> None:
        self.settings = settings
        self.dbs = dbs
        self.names = list(names)
        self.topology = Topology(
            settings.namespace, settings.use_quorum_queues, settings.delivery_limit
        )
        self.broker = Connection(settings.broker_url_for(OPERATOR))
        self.channel = self.broker.channel()

    def queued(self, worker: str) -> int:
        """Messages ready in ``worker``'s queue (those handed out and not yet acked are not
        counted: without the management plugin AMQP does not tell)."""
        _, ready, _ = self.channel.queue_declare(
            self.topology.worker_queue_name(worker), passive=True
        )
        return int(ready)

    def depths(self) -> dict[str, int]:
        return {worker: self.queued(worker) for worker in self.names}

    def backlog(self) -> int:
        """Messages ready in all the workers' queues."""
        return sum(self.depths().values())

    def completed(self) -> int:
        with self.dbs.session("intake") as session:
            return IntakeUnitOfWork(session).orders.counts_by_status().get("completed", 0)

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

    def announced(self) -> dict[str, float]:
        """When every message the workers announced was written to its outbox, by message id."""
        found: dict[str, float] = {}
        for worker in self.names:
            table = self.dbs.tables[worker].outbox.table
            with self.dbs.session(worker) as session:
                rows = session.execute(select(table.c.message_id, table.c.created_at))
                found.update({message_id: stamp(at) for message_id, at in rows})
        return found

    def taken_up(self, worker: str) -> dict[str, float]:
        """When ``worker`` took each message up (its inbox row), by message id."""
        table = self.dbs.tables[worker].inbox.table
        with self.dbs.session(worker) as session:
            rows = session.execute(select(table.c.message_id, table.c.handled_at))
            return {message_id: stamp(at) for message_id, at in rows}

    def close(self) -> None:
        self.broker.close()


def stamp(at: datetime) -> float:
    return at.timestamp()
