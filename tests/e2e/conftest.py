"""End-to-end tests: every worker as its own OS process on the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow.cluster.processes import ProcessCluster
from orderflow.cluster.registry import NAMES
from shared.settings import Settings
from tests.support import real_settings, tear_down

FAST_TIME = {
    "ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS": "0.2",
    "ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS": "0.5",
    "ORDERFLOW_INTAKE_COMPLETION_WINDOW_SECONDS": "0.5",
}


@pytest.fixture
def settings(namespace: str, rabbitmq_url: str, postgres_url: str) -> Iterator[Settings]:
    chosen = real_settings(namespace, rabbitmq_url, postgres_url)
    yield chosen
    tear_down(chosen, NAMES)


@pytest.fixture
def processes(settings: Settings, tmp_path: Path) -> Iterator[ProcessCluster]:
    env = {**FAST_TIME, "ORDERFLOW_NOTIFIER_MAILDIR": str(tmp_path / "mail")}
    cluster = ProcessCluster(settings, tmp_path / "logs", env=env)
    try:
        yield cluster
    finally:
        cluster.stop()
