"""A worker's health verdicts (``shared.health``) as gauges, 1 or 0, asked when Prometheus
scrapes: ``orderflow_ready`` says what /readyz says, ``orderflow_broker_connected`` and
``orderflow_database_reachable`` its two halves. Nothing is set on the loop's path."""

from __future__ import annotations

from shared import metrics
from shared.health import Health


def watch(health: Health) -> None:
    """Report ``health``'s verdicts under its worker's name (a worker started again in the same
    process replaces its earlier self)."""
    name = health.worker
    metrics.READY.labels(name).set_function(lambda: 0.0 if health.readiness() else 1.0)
    metrics.BROKER_CONNECTED.labels(name).set_function(
        lambda: 0.0 if health.broker_problem() else 1.0
    )
    metrics.DATABASE_REACHABLE.labels(name).set_function(
        lambda: 0.0 if health.database_problem() else 1.0
    )
