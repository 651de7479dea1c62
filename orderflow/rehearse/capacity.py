"""The arithmetic of a capacity check, pure: how fast a queue grew, whether a worker kept up,
what one replica of it can handle, which worker gives out first and how many replicas a target
rate needs.

A queue holds (the bench's test of a step) when the messages ready in it at the end are within
``BOUND_SECONDS`` of its inflow and the least-squares line through the samples climbs by no more
than ``GROWTH_SHARE`` of the inflow; a worker is saturated (the rehearsal's test) when its queue
fails both. Ready messages only: each replica holds up to its prefetch
handed out and unacked, which AMQP does not count, so a queue shows growth only once its
consumers hold all they may.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BOUND_SECONDS = 1.0
GROWTH_SHARE = 0.03

Samples = Sequence[tuple[float, int]]
"""(seconds since the start, messages ready in the queue)"""


def growth(samples: Samples) -> float:
    """How fast the backlog grew (messages a second), by the least-squares line through the
    samples: one noisy sample does not decide."""
    if len(samples) < 2:
        return 0.0
    times = [t for t, _ in samples]
    if len(set(times)) < 2:
        return 0.0
    return statistics.linear_regression(times, [float(n) for _, n in samples]).slope


def holds(samples: Samples, inflow: float) -> bool:
    """Whether a queue kept up with ``inflow`` messages a second: the backlog at the end is at
    most ``BOUND_SECONDS`` of inflow, and it grew by no more than ``GROWTH_SHARE`` of it."""
    return (
        bool(samples)
        and samples[-1][1] <= inflow * BOUND_SECONDS
        and growth(samples) <= inflow * GROWTH_SHARE
    )


def saturated(samples: Samples, inflow: float) -> bool:
    """Whether a worker falls behind ``inflow`` messages a second: its queue both grew by more
    than ``GROWTH_SHARE`` of the inflow and ended with more than ``BOUND_SECONDS`` of it. Either
    alone is a pause's burst at the end, or a standing queue it keeps up with, not a rate it
    cannot take."""
    return (
        bool(samples)
        and samples[-1][1] > inflow * BOUND_SECONDS
        and growth(samples) > inflow * GROWTH_SHARE
    )


@dataclass(frozen=True)
class Load:
    """What one worker did during the rehearsal's window, as measured."""

    replicas: int
    handled: int
    """messages it took up (inbox rows) from the first submit to the end of the drain"""
    handled_in_window: int
    """of those, the ones taken up while orders were being submitted"""
    cpu_seconds: float
    """user + system CPU of all its replicas over the same span as ``handled``"""
    samples: Samples
    delivered: int | None = None
    """deliveries it took from its queue over the same span, where that is not ``handled``:
    its queue's depth counts deliveries, and a batch of events (reporting's) is one"""


@dataclass(frozen=True)
class Verdict:
    """One worker's figures, worked out from its ``Load``."""

    per_order: float
    inflow: float
    """messages a second it must handle"""
    queue_inflow: float
    """deliveries a second into its queue: what its depth is judged against"""
    throughput: float
    growth: float
    saturated: bool
    capacity_per_replica: float | None
    measured: bool
    """``capacity_per_replica`` is what it handled while saturated; otherwise it is estimated
    from CPU (a replica using one core to the full), an upper bound where it waits on I/O"""
    utilisation: float | None


def judge(load: Load, orders: int, rate: float, window_seconds: float) -> Verdict:
    per_order = load.handled / orders if orders else 0.0
    inflow = rate * per_order
    delivered = load.handled if load.delivered is None else load.delivered
    queue_inflow = rate * delivered / orders if orders else 0.0
    throughput = load.handled_in_window / window_seconds
    behind = queue_inflow > 0 and saturated(load.samples, queue_inflow)
    capacity: float | None
    if behind:
        capacity = throughput / load.replicas
    elif load.cpu_seconds > 0 and load.handled:
        capacity = load.handled / load.cpu_seconds
    else:
        capacity = None
    utilisation = inflow / (capacity * load.replicas) if capacity else None
    return Verdict(
        per_order,
        inflow,
        queue_inflow,
        throughput,
        growth(load.samples),
        behind,
        capacity,
        behind,
        utilisation,
    )


def bottleneck(verdicts: Mapping[str, Verdict]) -> str | None:
    """The worker that gives out first: among the saturated ones, the one whose queue grows
    fastest for its inflow; if none is saturated, the busiest for its replicas."""
    saturated = {n: v for n, v in verdicts.items() if v.saturated}
    if saturated:
        return max(saturated, key=lambda n: saturated[n].growth / saturated[n].queue_inflow)
    busy = {n: v.utilisation for n, v in verdicts.items() if v.utilisation is not None}
    return max(busy, key=lambda n: busy[n]) if busy else None


def replicas_needed(verdict: Verdict, target: float, headroom: float) -> int | None:
    """Replicas that handle ``target`` orders a second with each one at most ``1 - headroom``
    busy; None when nothing was measured to go on."""
    if not verdict.capacity_per_replica:
        return None
    demand = target * verdict.per_order
    return max(1, math.ceil(demand / (verdict.capacity_per_replica * (1 - headroom)) - 1e-9))


def ceiling(rate: float, verdicts: Mapping[str, Verdict]) -> float | None:
    """The rate of orders the workers as started would keep up with: where the busiest one
    reaches full use."""
    busiest = max((v.utilisation for v in verdicts.values() if v.utilisation), default=None)
    return rate / busiest if busiest else None


def cores_for(rate: float, cpu_ms_per_order: float, headroom: float = 0.0) -> float:
    """CPU cores the workers use at ``rate`` orders a second, each core at most ``1 - headroom``
    busy. The host's own ceiling is the rate at which this reaches its cores (with no
    headroom): replicas beyond its cores only share them."""
    return rate * cpu_ms_per_order / 1000 / (1 - headroom)


def sustained_rate(completions: Sequence[float]) -> float:
    """Orders completed a second: the slope of the least-squares line through the count of
    completed orders against time, so neither the pipeline's delay before the first completion
    nor a slow first or last order sways it."""
    if len(completions) < 2 or len(set(completions)) < 2:
        return 0.0
    ordered = sorted(completions)
    return statistics.linear_regression(ordered, [float(n) for n in range(len(ordered))]).slope
