"""A worker process as deploy runs it (``ORDERFLOW_LOG_FORMAT=json``), on RabbitMQ and
PostgreSQL: what it writes is one JSON object per line, and a message it parks is a line that
names the worker, the replica and the message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kombu import Connection

from orderflow.cluster.processes import ProcessCluster
from shared.messaging import BrokerLink, Outgoing
from shared.topology import Topology
from tests.support import real_settings, tear_down, wait_until

pytestmark = pytest.mark.real


def test_a_worker_writes_json_lines_and_a_parked_message_names_itself(
    namespace: str, rabbitmq_url: str, postgres_url: str, tmp_path: Path
) -> None:
    settings = real_settings(namespace, rabbitmq_url, postgres_url)
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    env = {"ORDERFLOW_LOG_FORMAT": "json", "ORDERFLOW_REPLICA": "stock-a1b2/7"}
    processes = ProcessCluster(settings, tmp_path, env=env)
    try:
        processes.start(["stock"])
        link = BrokerLink(settings.broker_url, heartbeat=0)
        link.connect()
        try:
            body = b'{"id": "not json at all'
            link.publish_confirmed(
                [Outgoing(body, topology.events, "order.placed", "poison-7", "corr-7")]
            )
        finally:
            link.close()

        def parked() -> bool:
            with Connection(settings.broker_url) as connection:
                queue = topology.parking_queue_name("stock")
                return connection.channel().queue_declare(queue, passive=True)[1] == 1

        wait_until(parked, 30, what="the poison in stock's parking lot")
        wait_until(lambda: "message parked" in processes.running[0].log.read_text(), 10)
    finally:
        codes = processes.stop()
        tear_down(settings, ["stock"])

    assert codes == {"stock-0": 0}
    lines = [json.loads(line) for line in processes.running[0].log.read_text().splitlines()]
    (line,) = [line for line in lines if line["event"] == "message parked"]
    assert (
        line.items()
        >= {
            "level": "warning",
            "logger": "orderflow.worker",
            "worker": "stock",
            "replica": "stock-a1b2/7",
            "kind": "malformed",
            "message_id": "poison-7",
            "message_type": "order.placed",
            "correlation_id": "corr-7",
        }.items()
    )
    assert line["reason"].startswith("body is not JSON")
