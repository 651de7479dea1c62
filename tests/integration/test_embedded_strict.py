"""The embedded cluster's strict mode: a handler's permanent error fails the test that caused it,
with the handler's traceback, instead of waiting in the parking lot for nobody to look."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from orderflow.cluster.embedded import Cluster
from shared.clock import ManualClock
from shared.contracts import StockReceive
from shared.envelope import wrap
from shared.errors import PermanentError
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from tests.support import memory_settings

UNKNOWN_SKU = StockReceive(receipt_id="GR-7", sku="LAMP-NEW", quantity=5)
"""Stock's handler refuses goods of a SKU it does not stock: a permanent error."""


@pytest.fixture
def settings(namespace: str, tmp_path: Path) -> Settings:
    return memory_settings(namespace, tmp_path)


@pytest.fixture
def topology(settings: Settings) -> Topology:
    return Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)


def started(settings: Settings, strict: bool) -> Iterator[Cluster]:
    cluster = Cluster(settings, ManualClock(), names=["stock"], strict=strict)
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture
def strict(settings: Settings) -> Iterator[Cluster]:
    yield from started(settings, strict=True)


@pytest.fixture
def lenient(settings: Settings) -> Iterator[Cluster]:
    yield from started(settings, strict=False)


def send_unknown_receipt(settings: Settings, topology: Topology) -> None:
    envelope = wrap(UNKNOWN_SKU, source="erp")
    link = BrokerLink(settings.broker_url)
    link.connect()
    try:
        outgoing = Outgoing(
            body=envelope.encode(),
            exchange=topology.commands,
            routing_key=envelope.type,
            message_id=envelope.id,
        )
        link.publish_confirmed([outgoing])
    finally:
        link.close()


def parked(settings: Settings, topology: Topology) -> int:
    with Connection(settings.broker_url) as connection:
        queue = topology.parking_queue_name("stock")
        return int(connection.channel().queue_declare(queue, passive=True)[1])


def test_strict_mode_raises_the_handlers_permanent_error_with_its_traceback(
    strict: Cluster, settings: Settings, topology: Topology
) -> None:
    send_unknown_receipt(settings, topology)

    with pytest.raises(PermanentError, match="LAMP-NEW is not stocked") as raised:
        strict.pump()

    assert "on_stock_receive" in {entry.name for entry in raised.traceback}
    assert parked(settings, topology) == 0


def test_without_strict_mode_the_message_is_parked(
    lenient: Cluster, settings: Settings, topology: Topology
) -> None:
    send_unknown_receipt(settings, topology)

    lenient.pump()

    assert parked(settings, topology) == 1
