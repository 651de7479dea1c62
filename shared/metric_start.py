"""Every series a worker can report with a known label set, created when it starts: counters at
0, histograms with empty buckets. Prometheus' ``increase()`` needs a sample before the first
event, or the first reconnect (the first parking, ...) reads as no increase at all.

The label sets come from the worker's own declarations: the types of its handler table, what it
publishes (``Service.publishes``), the outcomes and park kinds the runtime knows, the
compensations its announcements can be (``shared.compensations``). Retries by error class are
the exception: the classes are not known before they happen.
"""

from __future__ import annotations

from shared import metrics
from shared.compensations import label_sets
from shared.inbound import ParkKind
from shared.service import Service

OUTCOMES = ("handled", "duplicate", "failed")


def start_at_zero(service: Service) -> None:
    name = service.name
    for contract in service.handlers:
        for outcome in OUTCOMES:
            metrics.MESSAGES.labels(name, contract.type, outcome)
        metrics.REDELIVERIES.labels(name, contract.type)
        metrics.HANDLER_SECONDS.labels(name, contract.type)
        metrics.CRITICAL_TIME_SECONDS.labels(name, contract.type)
    for contract in service.publishes:
        metrics.PUBLISHED.labels(name, contract.type)
    for park_kind in ParkKind:
        metrics.PARKED.labels(name, park_kind)
    for kind, reason in label_sets(service.publishes):
        metrics.COMPENSATIONS.labels(name, kind, reason)
    metrics.RECONNECTS.labels(name)
    metrics.DELIVERIES.labels(name)
    metrics.DATABASE_STATEMENTS.labels(name)
    metrics.BATCH_SECONDS.labels(name)
    metrics.BATCH_SIZE.labels(name)
    for gauge in (metrics.PARKING_LOT, metrics.OUTBOX_BACKLOG, metrics.OUTBOX_OLDEST_AGE):
        gauge.labels(name)
    for gauge in (metrics.RETRY_BACKLOG, metrics.TIMERS_OVERDUE):
        gauge.labels(name)
