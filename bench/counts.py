"""What an order costs, counted: CPU of the workers, of RabbitMQ and of PostgreSQL (from
/proc), and per worker the messages it handled and published and the SQL statements it sent
(from its /metrics), and the transactions it committed and rows it wrote (PostgreSQL's
``pg_stat_database``). A snapshot before and one after, divided by the orders in between."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, create_engine, make_url, text

from orderflow.cluster.processes import ProcessCluster
from shared.settings import Settings

METRICS = {
    "handled": ("orderflow_messages_total", {"outcome": "handled"}),
    "published": ("orderflow_published_total", {}),
    "statements": ("orderflow_database_statements_total", {}),
}
DATABASE_COUNTERS = (
    "SELECT datname, xact_commit, tup_inserted + tup_updated + tup_deleted"
    " FROM pg_stat_database WHERE datname IN :names"
)
STATS_FLUSH_SECONDS = 1.1
"""A busy PostgreSQL backend reports its counters to ``pg_stat_database`` about once a second."""


def cpu_seconds_of(command: str) -> float:
    """User + system CPU of every process named ``command`` (beam.smp, postgres), from /proc.

    PostgreSQL backends that exit during the run take their CPU with them, so its figure is a
    lower bound; the workers keep their connections, so in practice little is lost.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            content = stat.read_text()
        except OSError:
            continue
        if f"({command})" in content:
            fields = content.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def database_counters(settings: Settings, workers: list[str]) -> dict[str, dict[str, float]]:
    """Transactions committed and rows written (inserted, updated, deleted) so far, by worker,
    in each worker's own database."""
    databases = {make_url(settings.database_url_for(w)).database: w for w in workers}
    admin_url = make_url(settings.database_url_for(workers[0])).set(database="postgres")
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    query = text(DATABASE_COUNTERS).bindparams(bindparam("names", expanding=True))
    try:
        with engine.connect() as connection:
            rows = connection.execute(query, {"names": list(databases)})
            return {
                databases[name]: {"commits": float(commits), "rows_written": float(written)}
                for name, commits, written in rows
            }
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Cpu:
    """CPU seconds used so far."""

    workers: dict[str, float]
    broker: float
    postgres: float


def cpu(cluster: ProcessCluster) -> Cpu:
    return Cpu(cluster.cpu_by_worker(), cpu_seconds_of("beam.smp"), cpu_seconds_of("postgres"))


def counts(
    cluster: ProcessCluster, settings: Settings, workers: list[str]
) -> dict[str, dict[str, float]]:
    """Per worker: handled, published, statements, commits, rows_written so far. Waits for
    PostgreSQL's statistics to catch up first. A worker's counter that was never touched is
    missing from its /metrics: it counts as 0."""
    time.sleep(STATS_FLUSH_SECONDS)
    found = {w: dict.fromkeys(METRICS, 0.0) for w in workers}
    for key, (metric, labels) in METRICS.items():
        for worker, value in cluster.scrape(metric, **labels).items():
            found[worker][key] = value
    for worker, values in database_counters(settings, workers).items():
        found[worker].update(values)
    return found


def cpu_per_order(before: Cpu, after: Cpu, orders: int) -> dict[str, float]:
    """CPU ms per order: of the workers (in all and each), the broker, PostgreSQL, and all
    three together."""
    per_worker = {
        name: (seconds - before.workers.get(name, 0.0)) * 1000 / orders
        for name, seconds in after.workers.items()
    }
    workers = sum(per_worker.values())
    broker = (after.broker - before.broker) * 1000 / orders
    postgres = (after.postgres - before.postgres) * 1000 / orders
    return {
        "cpu_ms_per_order": workers,
        "broker_cpu_ms_per_order": broker,
        "postgres_cpu_ms_per_order": postgres,
        "cpu_ms_per_order_total": workers + broker + postgres,
        **{f"cpu_ms_per_order_{name}": ms for name, ms in sorted(per_worker.items())},
    }


def per_order(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], orders: int
) -> dict[str, dict[str, float]]:
    """Each worker's counts between the two snapshots, per order."""
    return {
        worker: {
            key: round((value - before.get(worker, {}).get(key, 0.0)) / orders, 3)
            for key, value in sorted(values.items())
        }
        for worker, values in sorted(after.items())
    }


def table(counts: dict[str, dict[str, float]]) -> str:
    """``per_order`` as a plain text table, one row per worker and a total."""
    columns = ["handled", "published", "statements", "commits", "rows_written"]
    lines = [f"{'per order':<12}" + "".join(f"{c:>14}" for c in columns)]
    for worker, values in counts.items():
        cells = "".join(f"{values.get(c, 0.0):>14.2f}" for c in columns)
        lines.append(f"{worker:<12}{cells}")
    totals = "".join(f"{sum(v.get(c, 0.0) for v in counts.values()):>14.2f}" for c in columns)
    lines.append(f"{'all':<12}{totals}")
    return "\n".join(lines)
