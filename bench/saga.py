"""The saga's throughput, latency and cost, on the real RabbitMQ and PostgreSQL or in one process.

    ./dev bench                             # 5,000 orders at once, next to the raw kombu chain
    ./dev bench --rate 30 --duration 20     # 30 orders a second for 20 seconds
    ./dev bench --peak                      # the highest sustained rate, then half of it paced
    ./dev bench --embedded --profile saga.prof   # one process, memory:// and SQLite
    ./dev bench --reporting-share 2 --orders 2000  # what reporting adds, two pairs of runs

Every worker runs as its own process (as in production), the simulated carrier and the
complaint window are set to zero. Reported: orders per second, p50/p95/p99 from submit to
order.placed, shipment.dispatched and order.completed, CPU per order of the workers, the broker
and PostgreSQL, each worker's messages, statements, commits and rows per order, and the raw
6-hop kombu chain's orders per second. The last line is one JSON object (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.counts import table
from bench.embedded import run_embedded
from bench.paced import Window, run_saga
from bench.peak import Step, peak_of, run_peak
from bench.raw_chain import measure as measure_raw_chain
from bench.reporting_share import describe as describe_share
from bench.reporting_share import measure as measure_share
from orderflow.cluster.registry import NAMES
from orderflow.rehearse.capacity import growth
from tests.support import configured_broker_url, configured_postgres_url, real_settings, tear_down

ALWAYS = (
    "orders_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "dispatched_p99_ms",
    "cpu_ms_per_order",
    "cpu_ms_per_order_total",
    "raw_chain_orders_per_s",
    "ratio",
    "peak_orders_per_s",
    "paced_p99_ms",
    "embedded_orders_per_s",
    "per_order",
)
"""Keys in every JSON line: null where the mode that measures them did not run."""


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--orders", type=int, help="5,000; 2,000 with --embedded")
    parser.add_argument("--broker", default=configured_broker_url())
    parser.add_argument("--postgres", default=configured_postgres_url())
    parser.add_argument("--skip-raw", action="store_true", help="do not measure the raw chain")
    parser.add_argument("--rate", type=float, help="submit R orders a second, not all at once")
    parser.add_argument("--duration", type=float, help="with --rate: R*S orders (not --orders)")
    parser.add_argument("--peak", action="store_true", help="find the highest sustained rate")
    parser.add_argument("--peak-from", type=float, default=40.0, help="the first step's rate")
    parser.add_argument("--peak-step-seconds", type=float, default=15.0)
    parser.add_argument("--no-half", action="store_true", help="no paced window at half peak")
    parser.add_argument("--half-seconds", type=float, default=20.0, help="that window's length")
    parser.add_argument("--embedded", action="store_true", help="one process, memory://, SQLite")
    parser.add_argument("--profile", type=Path, help="with --embedded: cProfile output file")
    parser.add_argument(
        "--reporting-share",
        type=int,
        metavar="PAIRS",
        help="the burst without and with reporting, PAIRS times: what it adds per order",
    )
    parser.add_argument(
        "--replicas",
        action="append",
        default=[],
        metavar="WORKER=N",
        help="run N processes of a worker (repeatable), e.g. --replicas notifier=2",
    )
    args = parser.parse_args()
    if args.duration is not None and args.rate is None:
        parser.error("--duration needs --rate")
    if args.profile is not None and not args.embedded:
        parser.error("--profile needs --embedded")
    if args.orders is None:
        args.orders = 2000 if args.embedded else 5000
    if args.duration is not None:
        args.orders = max(1, round(args.rate * args.duration))
    return args


def describe(saga: dict[str, float]) -> str:
    return (
        f"{saga['orders_per_s']:.0f} orders/s; to placed p50 {saga['placed_p50_ms']:.0f} ms, "
        f"p99 {saga['placed_p99_ms']:.0f} ms; to dispatched p50 {saga['dispatched_p50_ms']:.0f} "
        f"ms, p99 {saga['dispatched_p99_ms']:.0f} ms; to completed p50 {saga['p50_ms']:.0f} ms, "
        f"p95 {saga['p95_ms']:.0f} ms, p99 {saga['p99_ms']:.0f} ms; workers "
        f"{saga['cpu_ms_per_order']:.2f} CPU ms/order, broker "
        f"{saga['broker_cpu_ms_per_order']:.2f}, PostgreSQL "
        f"{saga['postgres_cpu_ms_per_order']:.2f} (all {saga['cpu_ms_per_order_total']:.2f}); "
        f"at the last completion {saga['mail_events_queued_at_completion']:.0f} events queued "
        f"for the notifier and {saga['mail_unsent_at_completion']:.0f} e-mails unsent, all sent "
        f"{saga['mail_lag_s']:.1f} s later"
    )


def on_processes(args: argparse.Namespace, replicas: dict[str, int]) -> dict[str, Any]:
    """The raw chain (unless skipped), then the saga on the worker processes: a burst or paced
    run, or the peak climb and its window at half the peak."""
    settings = real_settings(f"bench{uuid.uuid4().hex[:8]}", args.broker, args.postgres)
    queue_type = "quorum" if settings.use_quorum_queues else "classic"
    raw = None
    if not args.skip_raw:
        raw = measure_raw_chain(args.broker, args.orders, queue_type)["orders_per_s"]
        print(f"raw 6-hop kombu chain ({queue_type} queues): {raw:.0f} orders/s")
    log_dir = Path(tempfile.mkdtemp(prefix="orderflow-bench-"))
    steps: list[Step] = []
    window: Window | None
    try:
        if args.peak:
            half = None if args.no_half else args.half_seconds
            steps, window = run_peak(
                settings, log_dir, replicas, args.peak_from, args.peak_step_seconds, half
            )
        else:
            window = run_saga(settings, args.orders, log_dir, replicas, args.rate)
    finally:
        tear_down(settings, NAMES)
    result: dict[str, Any] = {"raw_chain_orders_per_s": raw and round(raw, 1)}
    result["queue_type"] = queue_type
    if steps:
        peak = peak_of(steps)
        print(f"peak: {peak or 0:.1f} orders/s sustained (logs in {log_dir})")
        result["peak_orders_per_s"] = peak and round(peak, 1)
        result["peak_steps"] = [
            [round(s.rate, 1), s.samples[-1][1], round(growth(s.samples)), s.held] for s in steps
        ]
    if window is not None:
        saga, counts = window
        print(("saga at half the peak: " if args.peak else "saga: ") + describe(saga))
        print(table(counts))
        print(f"logs in {log_dir}")
        result |= {k: round(v, 3) for k, v in saga.items()}
        result["ratio"] = raw and round(saga["orders_per_s"] / raw, 3)
        result["per_order"] = counts
        if args.peak:
            result["paced_p99_ms"] = result["dispatched_p99_ms"]
            result["rate"] = round((peak_of(steps) or 0.0) / 2, 1)
    return result


def main() -> None:
    args = arguments()
    replicas = {name: int(n) for name, _, n in (r.partition("=") for r in args.replicas)}
    if args.embedded:
        embedded = run_embedded(args.orders, args.profile)
        print(
            f"embedded: {embedded['embedded_orders_per_s']:.0f} orders/s, "
            f"{embedded['embedded_cpu_ms_per_order']:.2f} CPU ms/order"
            + (f" (profile in {args.profile})" if args.profile else "")
        )
        result: dict[str, Any] = {k: round(v, 3) for k, v in embedded.items()}
    elif args.reporting_share:
        result = measure_share(args, replicas, on_processes, args.reporting_share)
        print(describe_share(result["reporting_share"]))
    else:
        result = on_processes(args, replicas)
    result = {
        **dict.fromkeys(ALWAYS),
        "orders": args.orders,
        "rate": args.rate,
        **result,
        "replicas": replicas,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
