"""Fault tests: every worker as its own process on the real RabbitMQ and PostgreSQL, damaged on
purpose (kills, outages, duplicates, poison)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderflow.cluster.registry import NAMES
from shared.settings import Settings
from tests.support import real_settings, tear_down


@pytest.fixture
def settings(namespace: str, rabbitmq_url: str, postgres_url: str) -> Iterator[Settings]:
    chosen = real_settings(namespace, rabbitmq_url, postgres_url)
    yield chosen
    tear_down(chosen, NAMES)
