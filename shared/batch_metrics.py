"""What a committed batch adds to the metrics, counted once after its commit (a rolled-back
batch counts nothing): messages by outcome, each handled message's critical time, the batch's
size and time, and the compensations it announced (``shared.compensations``).

A message's critical time runs from its own time to the commit that handled it: the envelope's
``time`` (when its sender committed it), or a timer's due time (a timer is not late before it is
due). A delayed try keeps its envelope's time, so the delay shows. Clocks of two hosts may
disagree by a little: a negative time counts as 0.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from datetime import datetime

from prometheus_client import Counter, Histogram

from shared import metrics
from shared.compensations import count_compensations
from shared.envelope import Envelope

Handled = tuple[str, datetime]
"""A handled message's type, and the time its critical time runs from."""


def count_batch(
    worker: str,
    handled: Sequence[Handled],
    duplicates: Sequence[str],
    announced: Sequence[Envelope],
    started: float,
    committed_at: datetime,
) -> None:
    done = committed_at.timestamp()
    for type_name, since in handled:
        count, critical_time = _per_type(worker, type_name)
        count.inc()
        critical_time.observe(max(done - since.timestamp(), 0.0))
    for type_name in duplicates:
        metrics.MESSAGES.labels(worker, type_name, "duplicate").inc()
    if handled or duplicates:
        metrics.BATCH_SIZE.labels(worker).observe(len(handled) + len(duplicates))
        metrics.BATCH_SECONDS.labels(worker).observe(time.perf_counter() - started)
    count_compensations(worker, announced)


@functools.cache
def _per_type(worker: str, type_name: str) -> tuple[Counter, Histogram]:
    """A handled type's series, looked up once: a label lookup costs more than the count."""
    return (
        metrics.MESSAGES.labels(worker, type_name, "handled"),
        metrics.CRITICAL_TIME_SECONDS.labels(worker, type_name),
    )
