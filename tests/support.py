"""Helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from kombu import Connection
from sqlalchemy import make_url

from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster
from shared.contracts import Channel
from shared.database import drop_postgres_database
from shared.settings import Settings
from shared.topology import Topology

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def configured_broker_url() -> str:
    """The RabbitMQ the tests and benches use: ``ORDERFLOW_TEST_BROKER_URL``, else the local one."""
    return os.environ.get("ORDERFLOW_TEST_BROKER_URL", DEFAULT_BROKER)


def configured_postgres_url() -> str:
    """The PostgreSQL the tests and benches use: ``ORDERFLOW_TEST_POSTGRES_URL``, else the local
    one."""
    return os.environ.get("ORDERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


def memory_settings(namespace: str, tmp_path: Path, **overrides: object) -> Settings:
    return Settings(
        broker_url="memory://",
        database_url=f"sqlite:///{tmp_path}/{{worker}}.db",
        namespace=namespace,
        **overrides,  # type: ignore[arg-type]
    )


def real_settings(
    namespace: str, rabbitmq_url: str, postgres_url: str, **overrides: object
) -> Settings:
    template = make_url(postgres_url).set(database=f"{namespace}_{{worker}}")
    return Settings(
        broker_url=rabbitmq_url,
        database_url=template.render_as_string(hide_password=False)
        .replace("%7B", "{")
        .replace("%7D", "}"),
        namespace=namespace,
        **overrides,  # type: ignore[arg-type]
    )


def tear_down(settings: Settings, workers: Iterable[str]) -> None:
    """Delete the namespace's queues and exchanges and drop the workers' PostgreSQL databases."""
    names = list(workers)
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    if settings.on_real_broker:
        with Connection(settings.broker_url) as connection:
            channel = connection.channel()
            for name in names:
                for queue in (topology.worker_queue_name(name), topology.parking_queue_name(name)):
                    channel.queue_delete(queue)
            for sales_channel in [*Channel, "unknown"]:
                channel.queue_delete(topology.channel_queue_name(sales_channel))
            for exchange in topology.exchanges:
                channel.exchange_delete(exchange.name)
    for name in names:
        url = settings.database_url_for(name)
        if url.startswith("postgresql"):
            drop_postgres_database(url)


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    step: Callable[[], object] | None = None,
    what: str = "",
) -> None:
    """Wait for ``condition``, doing ``step`` (e.g. polling workers) between checks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        if step is not None:
            step()
        else:
            time.sleep(0.05)


@contextmanager
def started_cluster(
    settings: Settings, tmp_path: Path, times: Mapping[str, str], metrics_port_base: int = 0
) -> Iterator[tuple[ProcessCluster, WorkerDatabases]]:
    """Every worker started as a process with ``times`` (simulated delays and windows), e-mail
    into ``tmp_path/mail``, and every worker's database open for the test to read; each serves
    its metrics from ``metrics_port_base`` on, if given."""
    env = {**times, "ORDERFLOW_NOTIFIER_MAILDIR": str(tmp_path / "mail")}
    processes = ProcessCluster(
        settings, tmp_path / "logs", env=env, metrics_port_base=metrics_port_base
    )
    processes.start()
    dbs = WorkerDatabases(settings)
    try:
        yield processes, dbs
    finally:
        dbs.dispose()
        processes.stop()


def listening_on(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports nobody listens on now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base: int = probe.getsockname()[1]
        if base + count < 65535 and not any(listening_on(base + n) for n in range(count)):
            return base
    raise RuntimeError(f"no {count} free consecutive ports")
