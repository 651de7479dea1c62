"""The saga's throughput and latency on the real RabbitMQ and PostgreSQL, next to the broker's
ceiling measured in the same run.

    ./dev bench                 # 5,000 orders
    ./dev bench --orders 1000

Every worker runs as its own process (as in production), the simulated carrier and the
complaint window are set to zero, and N orders are pushed by a plain confirmed publisher as fast
as it can. Reported: orders per second end to end (first submit to last completion), p50/p95/p99
latency from submit to dispatched and to completed, CPU per order of the workers and of the
broker, and the raw 6-hop kombu chain's orders per second. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from kombu import Connection
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.raw_chain import measure as measure_raw_chain
from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from orderflow.cluster.registry import NAMES
from orderflow.operator.operations import await_listed, set_stock
from orderflow.scenarios.catalogue import CATALOGUE
from orderflow.scenarios.orders import extra
from services.intake.store import IntakeUnitOfWork
from services.notifier.model import Notification, NotificationStatus
from shared.settings import Settings
from shared.topology import Topology
from tests.support import configured_broker_url, configured_postgres_url, real_settings, tear_down

ZERO_DELAYS = {
    "ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS": "0",
    "ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS": "0",
    "ORDERFLOW_INTAKE_COMPLETION_WINDOW_SECONDS": "0",
    "ORDERFLOW_TIMER_POLL_SECONDS": "0.05",
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_seconds_of(command: str) -> float:
    """User + system CPU of every process named ``command`` (beam.smp, postgres), from /proc.

    PostgreSQL backends that exit during the run take their CPU with them, so its figure is a
    lower bound; the workers keep their connections, so in practice little is lost.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if f"({command})" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def paced(
    submissions: list[dict[str, Any]], rate: float | None
) -> Iterator[tuple[list[dict[str, Any]], float]]:
    """The orders in batches, each with when to send it (seconds from the start): all at once in
    batches of 250, or a tenth of a second's worth every tenth of a second at ``rate``."""
    size = 250 if rate is None else max(1, round(rate / 10))
    for start in range(0, len(submissions), size):
        yield submissions[start : start + size], 0.0 if rate is None else start / rate


def run_saga(
    settings: Settings,
    orders: int,
    log_dir: Path,
    replicas: dict[str, int] | None = None,
    rate: float | None = None,
) -> dict[str, float]:
    cluster = ProcessCluster(
        settings, log_dir, env=ZERO_DELAYS, replicas=replicas or {}, metrics_port_base=19100
    )
    cluster.start()
    dbs = WorkerDatabases(settings)
    try:
        for product in CATALOGUE:
            set_stock(settings, product.sku, 10_000_000, product.location, product.weight_grams)
        await_listed(settings, [product.sku for product in CATALOGUE])
        submissions = extra(orders, seed=2026)
        cpu_before = cluster.cpu_by_worker()
        broker_before, database_before = cpu_seconds_of("beam.smp"), cpu_seconds_of("postgres")
        sent_at: dict[str, float] = {}
        started = time.time()
        with ChannelPublisher(settings) as channel:
            for batch, due in paced(submissions, rate):
                if due > time.time() - started:
                    time.sleep(due - (time.time() - started))
                channel.send([submit_envelope(order) for order in batch])
                now = time.time()
                sent_at.update({order["external_id"]: now for order in batch})
        while completed(dbs) < orders:
            cluster.check_alive()
            time.sleep(0.25)
        all_completed = time.time()
        events_behind, mail_behind = unsent_mail(settings, dbs)
        while sum(unsent_mail(settings, dbs)):
            cluster.check_alive()
            time.sleep(0.25)
        mail_lag = time.time() - all_completed
        cpu_after = cluster.cpu_by_worker()
        batches = cluster.scrape("orderflow_batch_messages_count")
        handled = cluster.scrape("orderflow_batch_messages_sum")
        per_worker = {n: (cpu_after[n] - cpu_before.get(n, 0.0)) * 1000 / orders for n in cpu_after}
        cpu = sum(cpu_after.values()) - sum(cpu_before.values())
        broker_cpu = cpu_seconds_of("beam.smp") - broker_before
        database_cpu = cpu_seconds_of("postgres") - database_before
        dispatched, finished = milestones(dbs)
    finally:
        dbs.dispose()
        cluster.stop()
    external = external_ids(settings)
    to_dispatch = [(dispatched[o] - sent_at[external[o]]) * 1000 for o in dispatched]
    to_complete = [(finished[o] - sent_at[external[o]]) * 1000 for o in finished]
    elapsed = max(finished.values()) - started
    return {
        "orders_per_s": orders / elapsed,
        "seconds": elapsed,
        "p50_ms": percentile(to_complete, 50),
        "p95_ms": percentile(to_complete, 95),
        "p99_ms": percentile(to_complete, 99),
        "dispatched_p50_ms": percentile(to_dispatch, 50),
        "dispatched_p95_ms": percentile(to_dispatch, 95),
        "dispatched_p99_ms": percentile(to_dispatch, 99),
        "mean_ms": statistics.fmean(to_complete),
        "mail_events_queued_at_completion": events_behind,
        "mail_unsent_at_completion": mail_behind,
        "mail_lag_s": mail_lag,
        "cpu_ms_per_order": cpu * 1000 / orders,
        "broker_cpu_ms_per_order": broker_cpu * 1000 / orders,
        "postgres_cpu_ms_per_order": database_cpu * 1000 / orders,
        **{f"cpu_ms_per_order_{name}": ms for name, ms in sorted(per_worker.items())},
        **{f"mean_batch_{name}": handled[name] / batches[name] for name in sorted(batches)},
    }


def unsent_mail(settings: Settings, dbs: WorkerDatabases) -> tuple[int, int]:
    """E-mails still to go: events waiting in the notifier's queue, and notifications recorded
    but not yet sent (or refused)."""
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    with Connection(settings.broker_url) as connection:
        queue = topology.worker_queue_name("notifier")
        _, queued, _ = connection.channel().queue_declare(queue, passive=True)
    unsettled = (NotificationStatus.WAITING, NotificationStatus.PENDING, NotificationStatus.SENDING)
    with dbs.session("notifier") as session:
        query = select(func.count()).where(Notification.status.in_(unsettled))
        return int(queued), int(session.scalar(query) or 0)


def completed(dbs: WorkerDatabases) -> int:
    with dbs.session("intake") as session:
        return IntakeUnitOfWork(session).orders.counts_by_status().get("completed", 0)


def milestones(dbs: WorkerDatabases) -> tuple[dict[str, float], dict[str, float]]:
    def times(worker: str, type_name: str) -> dict[str, float]:
        table = dbs.tables[worker].outbox.table
        with dbs.session(worker) as session:
            rows = session.execute(
                table.select()
                .with_only_columns(table.c.subject, table.c.created_at)
                .where(table.c.type == type_name)
            )
            return {subject: stamp(at) for subject, at in rows}

    return times("shipping", "shipment.dispatched"), times("intake", "order.completed")


def stamp(at: datetime) -> float:
    return at.timestamp()


def external_ids(settings: Settings) -> dict[str, str]:
    dbs = WorkerDatabases(settings, ["intake"])
    try:
        with dbs.session("intake") as session:
            return {o.id: o.external_id for o in IntakeUnitOfWork(session).orders.recent(10**9)}
    finally:
        dbs.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--broker", default=configured_broker_url())
    parser.add_argument("--postgres", default=configured_postgres_url())
    parser.add_argument("--skip-raw", action="store_true", help="do not measure the raw chain")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="submit at this many orders per second instead of all at once",
    )
    parser.add_argument(
        "--replicas",
        action="append",
        default=[],
        metavar="WORKER=N",
        help="run N processes of a worker (repeatable), e.g. --replicas notifier=2",
    )
    args = parser.parse_args()
    replicas = {name: int(n) for name, _, n in (r.partition("=") for r in args.replicas)}

    namespace = f"bench{uuid.uuid4().hex[:8]}"
    settings = real_settings(namespace, args.broker, args.postgres)
    queue_type = "quorum" if settings.use_quorum_queues else "classic"
    raw = {"orders_per_s": float("nan")}
    if not args.skip_raw:
        raw = measure_raw_chain(args.broker, args.orders, queue_type)
        print(f"raw 6-hop kombu chain ({queue_type} queues): {raw['orders_per_s']:.0f} orders/s")
    log_dir = Path(tempfile.mkdtemp(prefix="orderflow-bench-"))
    try:
        saga = run_saga(settings, args.orders, log_dir, replicas, args.rate)
    finally:
        tear_down(settings, NAMES)
    print(
        f"saga: {saga['orders_per_s']:.0f} orders/s; to completed p50 {saga['p50_ms']:.0f} ms, "
        f"p95 {saga['p95_ms']:.0f} ms, p99 {saga['p99_ms']:.0f} ms; to dispatched p50 "
        f"{saga['dispatched_p50_ms']:.0f} ms; workers {saga['cpu_ms_per_order']:.2f} CPU ms/order, "
        f"broker {saga['broker_cpu_ms_per_order']:.2f}, PostgreSQL "
        f"{saga['postgres_cpu_ms_per_order']:.2f}; at the last completion "
        f"{saga['mail_events_queued_at_completion']:.0f} events queued for the notifier and "
        f"{saga['mail_unsent_at_completion']:.0f} e-mails unsent, all sent "
        f"{saga['mail_lag_s']:.1f} s later "
        f"(logs in {log_dir})"
    )
    result = {
        **{k: round(v, 3) for k, v in saga.items()},
        "raw_chain_orders_per_s": round(raw["orders_per_s"], 1),
        "ratio": round(saga["orders_per_s"] / raw["orders_per_s"], 3),
        "orders": args.orders,
        "queue_type": queue_type,
        "replicas": replicas,
        "rate": args.rate,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
