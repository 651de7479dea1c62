"""Every Prometheus metric orderflow exports, in one module. Alert rules and dashboards name
them: a rename breaks those.

Counters with a known label set are created at 0 when a worker starts (``shared.metric_start``),
so an ``increase()`` over the first event is not 0. The slow gauges (parking-lot depth, intake's
orders per state) are read every ``gauge_refresh_seconds`` (``shared.gauges``); the outbox's and
the timers' with the outbox sweep (``shared.relay``); readiness is asked on every scrape
(``shared.vitals``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "orderflow_messages_total",
    "Messages a worker took from its queue or its timers, by outcome",
    ["worker", "type", "outcome"],
)
DELIVERIES = Counter(
    "orderflow_deliveries_total",
    "Deliveries a worker took from its queue: a message, or a batch of events (reporting's)",
    ["worker"],
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
CRITICAL_TIME_SECONDS = Histogram(
    "orderflow_critical_time_seconds",
    "From a message's own time (its envelope's time; a timer's due time) to its batch's commit",
    ["worker", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RETRIES = Counter(
    "orderflow_retries_total",
    "In-process tries again after a transient error (a batch, then each message alone), by the "
    "error's class",
    ["worker", "error"],
)
COMPENSATIONS = Counter(
    "orderflow_compensations_total",
    "Compensating announcements a worker committed (see shared.compensations), by kind and reason",
    ["worker", "kind", "reason"],
)
READY = Gauge(
    "orderflow_ready", "1 while the worker is ready (as /readyz says), else 0", ["worker"]
)
BROKER_CONNECTED = Gauge(
    "orderflow_broker_connected", "1 while the worker's broker link is up, else 0", ["worker"]
)
DATABASE_REACHABLE = Gauge(
    "orderflow_database_reachable",
    "1 while the worker's database answered within the health window, else 0",
    ["worker"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "orderflow_outbox_oldest_age_seconds",
    "Age of the oldest outbox row not yet confirmed by the broker (0 if none)",
    ["worker"],
)
TIMERS_OVERDUE = Gauge(
    "orderflow_timers_overdue",
    "Timers and delayed tries due longer than timer_overdue_seconds ago and not fired",
    ["worker"],
)
PARKING_LOT = Gauge(
    "orderflow_parking_lot_messages",
    "Messages in the worker's parking-lot queue, as the broker counts them",
    ["worker"],
)
ORDERS = Gauge(
    "orderflow_orders", "Orders per status and channel (intake's database)", ["state", "channel"]
)
ORDER_OLDEST_AGE = Gauge(
    "orderflow_order_oldest_age_seconds",
    "Age since its last change of the oldest order in each non-terminal status (0 if none)",
    ["state"],
)
ORDERS_STUCK = Gauge(
    "orderflow_orders_stuck",
    "Orders in a non-terminal status for longer than that status's bound "
    "(ORDERFLOW_INTAKE_STUCK_AFTER_SECONDS)",
    ["state"],
)
