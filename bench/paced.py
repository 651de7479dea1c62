"""One measured window of the saga on the worker processes: orders submitted all at once or at a
pace, every one completed and every e-mail sent, and what that took."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.counts import counts, cpu, cpu_per_order, per_order
from bench.harness import BenchCluster, bench_cluster
from orderflow.cluster.registry import NAMES
from orderflow.rehearse.pacing import latencies, submit
from orderflow.scenarios.orders import extra
from shared.settings import Settings

Window = tuple[dict[str, float], dict[str, dict[str, float]]]
"""The window's figures, and each worker's counts per order."""


def measure(bench: BenchCluster, submissions: list[dict[str, Any]], rate: float | None) -> Window:
    """Submit, wait until every order is completed and every e-mail sent; orders per second to
    the last completion, latencies, mail left at the last completion, CPU up to the last e-mail
    and each worker's counts per order."""
    orders = len(submissions)
    completed_before = bench.completed()
    counts_before = counts(bench.cluster, bench.settings, NAMES)
    cpu_before = cpu(bench.cluster)
    sent_at, started = submit(bench.settings, submissions, rate)
    all_completed = bench.wait_completed(completed_before + orders)
    events_behind, mail_behind = bench.unsent_mail()
    mail_lag = bench.wait_mail_sent() - all_completed
    cpu_after = cpu(bench.cluster)
    counts_after = counts(bench.cluster, bench.settings, NAMES)
    batches = bench.cluster.scrape("orderflow_batch_messages_count")
    handled = bench.cluster.scrape("orderflow_batch_messages_sum")
    reached, external = bench.milestones(), bench.external_ids()
    finished = [at for o, at in reached["completed"].items() if external.get(o) in sent_at]
    elapsed = max(finished) - started
    figures = {
        "orders": orders,
        "orders_per_s": orders / elapsed,
        "seconds": elapsed,
        **latencies(sent_at, external, reached),
        "mail_events_queued_at_completion": events_behind,
        "mail_unsent_at_completion": mail_behind,
        "mail_lag_s": mail_lag,
        **cpu_per_order(cpu_before, cpu_after, orders),
        **{f"mean_batch_{name}": handled[name] / batches[name] for name in sorted(batches)},
    }
    return figures, per_order(counts_before, counts_after, orders)


def run_saga(
    settings: Settings,
    orders: int,
    log_dir: Path,
    replicas: Mapping[str, int],
    rate: float | None = None,
) -> Window:
    """The classic run: fresh workers, ``orders`` orders in a burst or at ``rate``."""
    with bench_cluster(settings, log_dir, replicas) as bench:
        return measure(bench, extra(orders, seed=2026), rate)
