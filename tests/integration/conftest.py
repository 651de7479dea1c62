"""Runtime tests run the same cases on kombu's memory:// transport with SQLite and on the real
RabbitMQ with PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.support import memory_settings, real_settings, tear_down


@pytest.fixture(params=["memory", "rabbitmq"])
def settings(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "memory":
        yield memory_settings(namespace, tmp_path, batch_size=50)
        return
    rabbitmq_url = request.getfixturevalue("rabbitmq_url")
    postgres_url = request.getfixturevalue("postgres_url")
    chosen = real_settings(namespace, rabbitmq_url, postgres_url, batch_size=50)
    yield chosen
    tear_down(chosen, ["stock", "probe"])
