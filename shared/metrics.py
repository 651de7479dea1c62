"""Every Prometheus metric orderflow exports, in one module."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "orderflow_messages_total",
    "Messages a worker took from its queue or its timers, by outcome",
    ["worker", "type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "orderflow_handler_seconds",
    "Time spent in one handler call",
    ["worker", "type"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
BATCH_SECONDS = Histogram(
    "orderflow_batch_seconds",
    "Time from a batch's first handler call to its commit",
    ["worker"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BATCH_SIZE = Histogram(
    "orderflow_batch_messages",
    "Messages handled in one transaction",
    ["worker"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
PUBLISHED = Counter(
    "orderflow_published_total", "Messages published with a broker confirm", ["worker", "type"]
)
OUTBOX_BACKLOG = Gauge(
    "orderflow_outbox_backlog", "Outbox rows not yet confirmed by the broker", ["worker"]
)
PARKED = Counter(
    "orderflow_parked_total", "Messages sent to the parking lot, by reason kind", ["worker", "kind"]
)
REDELIVERIES = Counter(
    "orderflow_redeliveries_total",
    "Delayed tries scheduled for messages that kept failing transiently",
    ["worker", "type"],
)
RETRY_BACKLOG = Gauge("orderflow_retry_backlog", "Messages waiting for a delayed try", ["worker"])
RECONNECTS = Counter(
    "orderflow_reconnects_total", "Times the broker link was lost and opened again", ["worker"]
)
DATABASE_STATEMENTS = Counter(
    "orderflow_database_statements_total",
    "SQL statements a worker sent to its database (an executemany counts once)",
    ["worker"],
)
