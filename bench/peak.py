"""The highest sustained rate: the workers started once, orders submitted at a rate that rises
step by step while the backlog in the workers' queues stays small and flat; then a paced window
at half that rate, where latency is an order's own.

The backlog is the messages ready in the workers' queues, sampled every ``SAMPLE_SECONDS``; the
inflow is the messages a second the rate brings (orders a second times the messages the workers
handle per order, measured in a warm-up). A step holds when the backlog at its end is within
``BOUND_SECONDS`` of inflow and the least-squares line through its samples climbs by no more than
``GROWTH_SHARE`` of the inflow: the workers keep up with all but a few per cent of what arrives,
which a step of ``STEP_FACTOR`` cannot resolve anyway. The climb goes up by ``STEP_FACTOR``
after each step that holds and stops at the first that does not; if the first step already
fails it comes down instead, until one holds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import BenchCluster, bench_cluster
from bench.paced import Window, measure
from orderflow.rehearse.capacity import growth, holds
from orderflow.rehearse.pacing import submit
from orderflow.scenarios.orders import extra
from shared.settings import Settings

STEP_FACTOR = 1.15
SAMPLE_SECONDS = 0.5
MAX_STEPS = 12
CLIMB_BUDGET_SECONDS = 200.0
WARM_UP_SECONDS = 3.0
DRAIN_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Step:
    rate: float
    samples: list[tuple[float, int]]
    """(seconds into the step, messages ready in the workers' queues)"""
    inflow: float
    """messages a second the rate brings to the workers' queues"""
    held: bool


def next_rate(steps: Sequence[Step], factor: float = STEP_FACTOR) -> float | None:
    """The rate of the next step, or None when the climb is over: up after a step that held,
    unless the climb had come down to it; down while no step has held yet."""
    last = steps[-1]
    if last.held:
        came_down = len(steps) > 1 and steps[-2].rate > last.rate
        return None if came_down else last.rate * factor
    return None if any(step.held for step in steps) else last.rate / factor


def peak_of(steps: Sequence[Step]) -> float | None:
    return max((step.rate for step in steps if step.held), default=None)


class OrderSource:
    """Fresh orders, each external id once, as many as are asked for."""

    def __init__(self, seed: int = 2026) -> None:
        self.seed = seed
        self.orders: list[dict[str, Any]] = []
        self.taken = 0

    def take(self, count: int) -> list[dict[str, Any]]:
        if self.taken + count > len(self.orders):
            self.orders = extra(max(2 * len(self.orders), self.taken + count), self.seed)
        chunk = self.orders[self.taken : self.taken + count]
        self.taken += count
        return chunk


def fan_out(bench: BenchCluster, source: OrderSource, rate: float) -> float:
    """Warm the workers up with a few seconds of orders at ``rate``; returns the deliveries the
    workers took from their queues per order, to turn a rate of orders into an inflow of queued
    messages (a batch of events, reporting's, is one)."""
    delivered = "orderflow_deliveries_total"
    before = sum(bench.cluster.scrape(delivered).values())
    orders = source.take(max(1, round(rate * WARM_UP_SECONDS)))
    submit(bench.settings, orders, rate)
    bench.wait_completed(source.taken, DRAIN_TIMEOUT_SECONDS)
    return (sum(bench.cluster.scrape(delivered).values()) - before) / len(orders)


def run_step(
    bench: BenchCluster, source: OrderSource, rate: float, seconds: float, messages: float
) -> Step:
    samples: list[tuple[float, int]] = []

    def sample(elapsed: float) -> None:
        if elapsed >= SAMPLE_SECONDS * (len(samples) + 1):
            samples.append((elapsed, bench.backlog()))

    started = time.monotonic()
    submit(bench.settings, source.take(max(1, round(rate * seconds))), rate, sample)
    samples.append((time.monotonic() - started, bench.backlog()))
    inflow = rate * messages
    return Step(rate, samples, inflow, holds(samples, inflow))


def climb(bench: BenchCluster, source: OrderSource, start: float, seconds: float) -> list[Step]:
    messages = fan_out(bench, source, start)
    print(f"peak: warm-up done, {messages:.1f} messages handled per order")
    steps: list[Step] = []
    rate: float | None = start
    deadline = time.monotonic() + CLIMB_BUDGET_SECONDS
    while rate is not None and len(steps) < MAX_STEPS and time.monotonic() + seconds < deadline:
        if steps and rate < steps[-1].rate:
            drain(bench, source)
        steps.append(run_step(bench, source, rate, seconds, messages))
        step = steps[-1]
        verdict = "held" if step.held else "not held"
        print(
            f"peak: {rate:.1f} orders/s, backlog {step.samples[0][1]} to {step.samples[-1][1]}, "
            f"growing {growth(step.samples):.0f}/s (inflow {step.inflow:.0f}/s): {verdict}"
        )
        rate = next_rate(steps)
    return steps


def drain(bench: BenchCluster, source: OrderSource) -> None:
    """Until every order submitted so far is completed and every e-mail sent."""
    bench.wait_completed(source.taken, DRAIN_TIMEOUT_SECONDS)
    bench.wait_mail_sent()


def run_peak(
    settings: Settings,
    log_dir: Path,
    replicas: Mapping[str, int],
    start: float,
    step_seconds: float,
    half_seconds: float | None,
) -> tuple[list[Step], Window | None]:
    """The climb's steps, and the window at half the peak (None with no ``half_seconds``, or
    when no step held)."""
    with bench_cluster(settings, log_dir, replicas) as bench:
        source = OrderSource()
        steps = climb(bench, source, start, step_seconds)
        peak = peak_of(steps)
        if peak is None or half_seconds is None:
            return steps, None
        drain(bench, source)
        half = peak / 2
        return steps, measure(bench, source.take(max(1, round(half * half_seconds))), half)
