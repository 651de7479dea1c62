"""What users feel: how long after its submit an order was placed, dispatched and completed, and
the pace orders are submitted at; shared by ``orderflow rehearse`` and the bench."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from shared.settings import Settings

from ..cluster.channel import ChannelPublisher, submit_envelope

MILESTONES = {"placed": "placed_", "dispatched": "dispatched_", "completed": ""}
"""Each milestone and the prefix of its keys: ``placed_p99_ms``, ``dispatched_p99_ms``, and
``p99_ms`` for completion (the key the bench has always reported)."""


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def paced(
    submissions: list[dict[str, Any]], rate: float | None
) -> Iterator[tuple[list[dict[str, Any]], float]]:
    """The orders in batches, each with when to send it (seconds from the start): all at once in
    batches of 250, or a tenth of a second's worth every tenth of a second at ``rate``."""
    size = 250 if rate is None else max(1, round(rate / 10))
    for start in range(0, len(submissions), size):
        yield submissions[start : start + size], 0.0 if rate is None else start / rate


def latencies(
    sent_at: Mapping[str, float],
    external: Mapping[str, str],
    reached: Mapping[str, Mapping[str, float]],
) -> dict[str, float]:
    """p50/p95/p99 in ms from submit to each milestone, of the orders in ``sent_at``.

    ``sent_at``: submit time by the channel's external id; ``external``: external id by order
    id; ``reached``: for each milestone of ``MILESTONES``, when each order reached it (by order
    id). Orders not submitted in this window are left out."""
    summary: dict[str, float] = {}
    for milestone, prefix in MILESTONES.items():
        delays = [
            (at - sent_at[external[order]]) * 1000
            for order, at in reached[milestone].items()
            if external.get(order) in sent_at
        ]
        for p in (50, 95, 99):
            summary[f"{prefix}p{p}_ms"] = percentile(delays, p)
        if milestone == "completed":
            summary["mean_ms"] = statistics.fmean(delays)
    return summary


def submit(
    settings: Settings,
    submissions: list[dict[str, Any]],
    rate: float | None,
    tick: Callable[[float], None] | None = None,
    message_ids: dict[str, float] | None = None,
) -> tuple[dict[str, float], float]:
    """Send the orders (all at once, or at ``rate`` a second), calling ``tick`` with the seconds
    since the start after each batch; returns when each was confirmed (by external id) and when
    the first batch went. ``message_ids`` gets the same times by ``order.submit`` message id."""
    sent_at: dict[str, float] = {}
    started = time.time()
    with ChannelPublisher(settings) as channel:
        for batch, due in paced(submissions, rate):
            if due > time.time() - started:
                time.sleep(due - (time.time() - started))
            envelopes = [submit_envelope(order) for order in batch]
            channel.send(envelopes)
            now = time.time()
            sent_at.update({order["external_id"]: now for order in batch})
            if message_ids is not None:
                message_ids.update({envelope.id: now for envelope in envelopes})
            if tick is not None:
                tick(now - started)
    return sent_at, started
