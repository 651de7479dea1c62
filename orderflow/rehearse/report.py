"""A rehearsal's figures, worked out from what the workers recorded themselves: the orders
intake completed (its outbox), and for every worker the messages it took up and when (its inbox
rows), set against when each message was announced (the announcing worker's outbox row, or the
channel's send for ``order.submit``).

A worker's critical time is that wait, announcement to take-up, at the 99th percentile: how long
a message sat in the relay and the queue before the worker got to it. The messages a worker
handled are its own count (``orderflow_messages_total`` on its replicas' /metrics), which a
worker without an inbox keeps too; its queue's depth is judged against the deliveries it took
(``orderflow_deliveries_total``), which for reporting are batches of events.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..cluster.registry import NAMES
from .capacity import (
    Load,
    Verdict,
    bottleneck,
    ceiling,
    cores_for,
    judge,
    replicas_needed,
    sustained_rate,
)
from .namespace import Namespace
from .pacing import latencies, percentile
from .plan import Plan
from .watch import Watch

Taken = tuple[int, list[float]]
"""A worker's messages handled during the rehearsal, and each one's wait in ms where its inbox
row and its announcement are known (a worker that keeps no inbox, like reporting, has none)."""


@dataclass(frozen=True)
class Measured:
    """What the rehearsal's own loop saw while it ran (clock times are ``time.time()``)."""

    orders: int
    started: float
    sent: float
    """when the last order was sent: the end of the window the rate is judged in"""
    ended: float
    """when the drain ended: every order completed, or the drain time up"""
    sent_at: dict[str, float]
    """when each order was sent, by external id"""
    sent_ids: dict[str, float]
    """the same, by the ``order.submit`` message's id"""
    samples: dict[str, list[tuple[float, int]]]
    """each worker's (seconds since the start, messages ready in its queue) while sending"""
    handled: dict[str, tuple[int, int]]
    """each worker's messages handled by its own count, to the end and while sending"""
    cpu_seconds: dict[str, float]
    delivered: dict[str, int] = field(default_factory=dict)
    """each worker's deliveries taken from its queue, to the end (a batch of events is one)"""


@dataclass(frozen=True)
class WorkerFigures:
    replicas: int
    messages_per_order: float
    inflow_per_s: float
    queue_inflow_per_s: float
    handled: int
    handled_per_s: float
    queue_growth_per_s: float
    peak_ready: int
    saturated: bool
    critical_p50_ms: float | None
    critical_p99_ms: float | None
    critical_max_ms: float | None
    cpu_ms_per_order: float
    capacity_per_replica: float | None
    capacity_measured: bool
    utilisation: float | None
    replicas_needed: int | None


@dataclass(frozen=True)
class Report:
    id: str
    vhost: str
    databases: list[str]
    offered_rate: float
    duration_s: float
    started_at: float
    """when the first measured order was sent (seconds since the epoch)"""
    submitted: int
    completed: int
    sustained_rate: float
    problems: list[str]
    latency_ms: dict[str, float]
    workers: dict[str, WorkerFigures]
    bottleneck: str | None
    ceiling_rate: float | None
    """orders a second the workers as started keep up with, by the busiest one"""
    host_cores: int
    host_ceiling_rate: float | None
    """orders a second this host's cores give the workers, all of them together"""
    cores_needed: float
    """cores the workers need for the target rate, at the headroom"""
    target_rate: float
    headroom: float
    kept: bool
    workdir: str
    cleanup_commands: list[str]
    cleanup_problems: list[str] = field(default_factory=list)

    @property
    def sustained(self) -> bool:
        return not self.problems

    def cleaned_up(self, problems: list[str]) -> Report:
        return replace(self, cleanup_problems=problems)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = rounded({**asdict(self), "sustained": self.sustained})
        return data


def rounded(value: Any) -> Any:
    """Floats to three places, in dicts and lists too: milliseconds and rates, not noise."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def build_report(
    namespace: Namespace, plan: Plan, measured: Measured, watch: Watch, workdir: Path
) -> Report:
    window = max(measured.sent - measured.started, 1e-3)
    announced = {**watch.announced(), **measured.sent_ids}
    verdicts: dict[str, Verdict] = {}
    seen: dict[str, Taken] = {}
    for name in NAMES:
        taken = {m: t for m, t in watch.taken_up(name).items() if t >= measured.started}
        waits = [(t - announced[m]) * 1000 for m, t in taken.items() if m in announced]
        in_all, while_sending = measured.handled[name]
        seen[name] = (in_all, waits)
        load = Load(
            replicas=plan.replicas.get(name, 1),
            handled=in_all,
            handled_in_window=while_sending,
            cpu_seconds=measured.cpu_seconds.get(name, 0.0),
            samples=measured.samples[name],
            delivered=measured.delivered.get(name),
        )
        verdicts[name] = judge(load, measured.orders, plan.rate, window)
    external, reached = watch.external_ids(), watch.milestones()
    ours = {o for o, ext in external.items() if ext in measured.sent_at}
    completions = [
        at for o, at in reached["completed"].items() if o in ours and at <= measured.ended
    ]
    workers = {name: figures(name, verdicts[name], plan, measured, seen[name]) for name in NAMES}
    rate = sustained_rate(completions)
    cpu_ms = sum(worker.cpu_ms_per_order for worker in workers.values())
    cores = os.cpu_count() or 1
    all_reached = all(any(o in ours for o in reached[m]) for m in reached)
    return Report(
        id=namespace.id,
        vhost=namespace.vhost,
        databases=namespace.databases,
        offered_rate=plan.rate,
        duration_s=plan.duration,
        started_at=measured.started,
        submitted=measured.orders,
        completed=len(completions),
        sustained_rate=rate,
        problems=problems(plan, measured.orders, len(completions), rate, workers),
        latency_ms=latencies(measured.sent_at, external, reached) if all_reached else {},
        workers=workers,
        bottleneck=bottleneck(verdicts),
        ceiling_rate=ceiling(plan.rate, verdicts),
        host_cores=cores,
        host_ceiling_rate=cores / cores_for(1, cpu_ms) if cpu_ms else None,
        cores_needed=cores_for(plan.target or plan.rate, cpu_ms, plan.options.headroom),
        target_rate=plan.target or plan.rate,
        headroom=plan.options.headroom,
        kept=plan.keep,
        workdir=str(workdir),
        cleanup_commands=[*namespace.cleanup_commands(), f"rm -r {workdir}"],
    )


def figures(
    name: str, verdict: Verdict, plan: Plan, measured: Measured, taken: Taken
) -> WorkerFigures:
    handled, waits = taken
    target = plan.target or plan.rate
    return WorkerFigures(
        replicas=plan.replicas.get(name, 1),
        messages_per_order=verdict.per_order,
        inflow_per_s=verdict.inflow,
        queue_inflow_per_s=verdict.queue_inflow,
        handled=handled,
        handled_per_s=verdict.throughput,
        queue_growth_per_s=verdict.growth,
        peak_ready=max((n for _, n in measured.samples[name]), default=0),
        saturated=verdict.saturated,
        critical_p50_ms=percentile(waits, 50) if waits else None,
        critical_p99_ms=percentile(waits, 99) if waits else None,
        critical_max_ms=max(waits) if waits else None,
        cpu_ms_per_order=measured.cpu_seconds.get(name, 0.0) * 1000 / measured.orders,
        capacity_per_replica=verdict.capacity_per_replica,
        capacity_measured=verdict.measured,
        utilisation=verdict.utilisation,
        replicas_needed=replicas_needed(verdict, target, plan.options.headroom),
    )


def problems(
    plan: Plan, submitted: int, completed: int, rate: float, workers: dict[str, WorkerFigures]
) -> list[str]:
    """Why the offered rate was not sustained; none when it was."""
    found = []
    if completed < submitted:
        found.append(
            f"{submitted - completed} of {submitted} orders not completed within "
            f"{plan.options.drain_seconds:g} s of the last one sent"
        )
    floor = plan.rate * (1 - plan.options.rate_tolerance)
    if rate < floor:
        found.append(
            f"orders completed at {rate:.2f}/s, below the offered {plan.rate:g}/s "
            f"(at least {floor:.2f}/s counts as sustained)"
        )
    for name, worker in workers.items():
        if worker.saturated:
            found.append(
                f"{name} does not keep up: its queue grew {worker.queue_growth_per_s:.1f} "
                f"messages/s against an inflow of {worker.queue_inflow_per_s:.1f}/s"
            )
    return found
