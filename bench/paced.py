"""One measured window of the saga on the worker processes: orders submitted all at once or at a
pace, every one completed and every e-mail sent, and what that took."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.counts import counts, cpu, cpu_per_order, per_order
from bench.harness import BenchCluster, bench_cluster
from bench.latency import latencies, paced
from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.registry import NAMES
from orderflow.scenarios.orders import extra
from shared.settings import Settings

Window = tuple[dict[str, float], dict[str, dict[str, float]]]
"""The window's figures, and each worker's counts per order."""


def submit(
    bench: BenchCluster,
    submissions: list[dict[str, Any]],
    rate: float | None,
    tick: Callable[[float], None] | None = None,
) -> tuple[dict[str, float], float]:
    """Send the orders (all at once, or at ``rate`` a second), calling ``tick`` with the seconds
    since the start after each batch; returns when each was confirmed (by external id) and when
    the first batch went."""
    sent_at: dict[str, float] = {}
    started = time.time()
    with ChannelPublisher(bench.settings) as channel:
        for batch, due in paced(submissions, rate):
            if due > time.time() - started:
                time.sleep(due - (time.time() - started))
            channel.send([submit_envelope(order) for order in batch])
            now = time.time()
            sent_at.update({order["external_id"]: now for order in batch})
            if tick is not None:
                tick(now - started)
    return sent_at, started


def measure(bench: BenchCluster, submissions: list[dict[str, Any]], rate: float | None) -> Window:
    """Submit, wait until every order is completed and every e-mail sent; orders per second to
    the last completion, latencies, mail left at the last completion, CPU up to the last e-mail
    and each worker's counts per order."""
    orders = len(submissions)
    completed_before = bench.completed()
    counts_before = counts(bench.cluster, bench.settings, NAMES)
    cpu_before = cpu(bench.cluster)
    sent_at, started = submit(bench, submissions, rate)
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
