"""The whole saga in this one process: kombu's ``memory://`` transport, SQLite files in a
temporary directory, every worker stepped in turn (as orderflow's embedded ``Cluster`` does) with
the bench's zero delays on the real clock.

No broker, no PostgreSQL, no other process: the CPU is the workers' own Python (handlers,
runtime, ORM, SQLite), which is what ``--profile`` shows the lead. Orders per second runs from
the first submit to the last ``order.completed``; CPU runs until nothing is left to do, every
e-mail sent, as in the process bench.
"""

from __future__ import annotations

import cProfile
import os
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.embedded import Cluster
from orderflow.operator.operations import on_stock, stock_level, unlisted_at_intake
from orderflow.rehearse.pacing import paced
from orderflow.rehearse.watch import ZERO_DELAYS
from orderflow.scenarios.catalogue import CATALOGUE
from orderflow.scenarios.orders import extra
from services.intake.store import IntakeUnitOfWork
from shared.settings import Settings
from tests.support import memory_settings

IDLE_WHEN_NEXT_TIMER_AFTER = timedelta(seconds=1)
LONGEST_RUN_SECONDS = 900.0


def run_embedded(orders: int, profile: Path | None = None) -> dict[str, float]:
    """``orders`` orders through a fresh embedded cluster; with ``profile``, a cProfile of the
    measured part written there (``python -m pstats`` reads it)."""
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-embedded-") as workdir:
        os.environ.update({**ZERO_DELAYS, "ORDERFLOW_NOTIFIER_MAILDIR": f"{workdir}/mail"})
        namespace = f"benchembedded{uuid.uuid4().hex[:8]}"
        settings = memory_settings(namespace, Path(workdir), database_urls={})
        cluster = Cluster(settings)
        cluster.start()
        try:
            stock(cluster)
            return measure(cluster, settings, extra(orders, seed=2026), profile)
        finally:
            cluster.close()
            for worker in cluster.workers.values():
                if worker.sessions is not None:
                    worker.sessions.kw["bind"].dispose()


def stock(cluster: Cluster) -> None:
    """Every product stocked through the stock worker, and intake has heard of each."""
    for product in CATALOGUE:
        level = stock_level(
            product.sku, 10_000_000, product.location, product.weight_grams, cluster.clock
        )
        on_stock(cluster["stock"].operate, level)
    intake = cluster["intake"].sessions
    assert intake is not None
    skus = [product.sku for product in CATALOGUE]
    cluster.pump_until(lambda: not unlisted_at_intake(intake, skus), "intake knows every SKU")


def measure(
    cluster: Cluster, settings: Settings, submissions: list[dict[str, Any]], profile: Path | None
) -> dict[str, float]:
    orders = len(submissions)
    profiler = cProfile.Profile() if profile else None
    cpu_by_worker = dict.fromkeys(cluster.workers, 0.0)
    started, cpu_started = time.time(), time.process_time()
    if profiler is not None:
        profiler.enable()
    with ChannelPublisher(settings) as channel:
        for batch, _ in paced(submissions, None):
            channel.send([submit_envelope(order) for order in batch])
    settle(cluster, cpu_by_worker)
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - cpu_started
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    last_completion = completed_at(cluster, orders)
    return {
        "embedded_orders_per_s": orders / (last_completion - started),
        "embedded_seconds": last_completion - started,
        "embedded_cpu_ms_per_order": cpu * 1000 / orders,
        **{
            f"embedded_cpu_ms_per_order_{name}": seconds * 1000 / orders
            for name, seconds in sorted(cpu_by_worker.items())
        },
    }


def settle(cluster: Cluster, cpu_by_worker: dict[str, float]) -> None:
    """Step every worker in turn (``Cluster.step``, with each one's CPU counted) until none has
    anything to do and no timer is due within ``IDLE_WHEN_NEXT_TIMER_AFTER``."""
    deadline = time.monotonic() + LONGEST_RUN_SECONDS
    while time.monotonic() < deadline:
        done = 0
        for name, worker in cluster.workers.items():
            cpu_started = time.process_time()
            done += worker.poll(0) + worker.fire_timers() + worker.run_after_commit()
            cpu_by_worker[name] += time.process_time() - cpu_started
        if done:
            continue
        due = cluster.next_timer()
        wait = due - cluster.clock.now() if due is not None else None
        if wait is None or wait > IDLE_WHEN_NEXT_TIMER_AFTER:
            return
        time.sleep(min(max(wait.total_seconds(), 0.0), 0.01))
    raise RuntimeError(f"the embedded saga still had work after {LONGEST_RUN_SECONDS} s")


def completed_at(cluster: Cluster, orders: int) -> float:
    """When the last order was completed (its ``order.completed`` in intake's outbox); every
    order must be."""
    intake = cluster["intake"]
    assert intake.sessions is not None
    table = intake.tables.outbox.table
    with intake.sessions() as session:
        counts = IntakeUnitOfWork(session).orders.counts_by_status()
        if counts.get("completed", 0) != orders:
            raise RuntimeError(f"not every order completed: {counts}")
        last = session.scalar(
            select(func.max(table.c.created_at)).where(table.c.type == "order.completed")
        )
    assert last is not None
    return float(last.timestamp())
