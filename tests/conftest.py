"""Where the real RabbitMQ and PostgreSQL come from.

URLs from the environment first (ORDERFLOW_TEST_BROKER_URL, ORDERFLOW_TEST_POSTGRES_URL), then
the usual local ports, then a testcontainers container where a Docker engine is reachable. In CI
(CI=true) a missing service fails the run; elsewhere the tests that need it are skipped.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.publications import WATCH, watch
from tests.required import required
from tests.support import configured_broker_url, configured_postgres_url


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 2):
            return True
    except OSError:
        return False


def docker_engine_reachable() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def unavailable(what: str, url: str) -> None:
    message = f"{what} is not reachable at {url} and no Docker engine is available"
    required(message)


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    url = configured_broker_url()
    if reachable(url):
        yield url
    elif docker_engine_reachable():
        yield from _container("rabbitmq:3.13", 5672, "amqp://guest:guest@{host}:{port}//")
    else:
        unavailable("RabbitMQ", url)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = configured_postgres_url()
    if reachable(url):
        yield url
    elif docker_engine_reachable():
        yield from _container(
            "postgres:16",
            5432,
            "postgresql+psycopg://postgres@{host}:{port}/postgres",
            POSTGRES_HOST_AUTH_METHOD="trust",
        )
    else:
        unavailable("PostgreSQL", url)


def _container(image: str, port: int, template: str, **env: str) -> Iterator[str]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = DockerContainer(image).with_exposed_ports(port)
    for key, value in env.items():
        container = container.with_env(key, value)
    with container:
        wait_for_logs(container, "ready" if "postgres" in image else "Server startup complete")
        host, mapped = container.get_container_host_ip(), container.get_exposed_port(port)
        yield template.format(host=host, port=mapped)


@pytest.fixture
def namespace() -> str:
    """A fresh prefix for exchanges, queues and databases: tests never see each other's data."""
    return f"t{uuid.uuid4().hex[:10]}"


def pytest_configure(config: pytest.Config) -> None:
    watch()


@pytest.fixture(autouse=True)
def only_declared_announcements() -> Iterator[None]:
    """Fails the test in which a worker announced a type its bootstrap does not declare."""
    WATCH.seen.clear()
    yield
    assert WATCH.undeclared() == [], "declare it in the worker's bootstrap (``publishes``)"
