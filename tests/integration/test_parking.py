"""The parking-lot CLI on the real RabbitMQ and PostgreSQL.

Real workers (stock and intake) park what they cannot handle: malformed JSON, a wrong schema, an
unknown type, an oversize body, a stock receipt for a SKU stock does not know (its handler
raises a PermanentError), and a malformed order submission. Then the operator lists them with
each filter, shows one, replays and purges, and reads the audit. Reading never loses anything,
however often it requeues; a replay goes to the parking worker alone, only once valid, and the
worker's inbox makes a second one a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kombu import Connection, Queue
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.cluster.registry import NAMES, build
from orderflow.operator.parking import (
    AuditLog,
    Filters,
    ParkedMessage,
    UnsafeParkingQueue,
    audited,
    list_parked,
    operator,
)
from services.stock.admin import set_level
from services.stock.store import StockUnitOfWork
from shared.clock import SystemClock
from shared.contracts import StockReceive
from shared.envelope import CONTENT_TYPE, Envelope, wrap
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.factories import order_placed
from tests.support import real_settings, tear_down, wait_until

pytestmark = pytest.mark.real

WORKERS = ["stock", "intake"]
MAX_BYTES = 4096


@dataclass(frozen=True)
class Parked:
    """What the workers were fed, by what went wrong."""

    schema: Envelope
    unknown: Envelope
    oversize: Envelope
    receipt: Envelope


@pytest.fixture
def settings(namespace: str, rabbitmq_url: str, postgres_url: str) -> Iterator[Settings]:
    chosen = real_settings(
        namespace, rabbitmq_url, postgres_url, batch_size=50, max_message_bytes=MAX_BYTES
    )
    yield chosen
    tear_down(chosen, NAMES)  # the parking commands open every worker's database


@pytest.fixture
def topology(settings: Settings) -> Topology:
    return Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)


@pytest.fixture
def workers(settings: Settings) -> Iterator[dict[str, Worker]]:
    running = {name: Worker(build(name), settings) for name in WORKERS}
    for worker in running.values():
        worker.start()
    yield running
    for worker in running.values():
        worker.close()


@pytest.fixture
def sender(settings: Settings) -> Iterator[BrokerLink]:
    link = BrokerLink(settings.broker_url)
    link.connect()
    yield link
    link.close()


Send = Callable[..., None]


@pytest.fixture
def send(sender: BrokerLink, topology: Topology) -> Send:
    def publish(body: bytes, routing_key: str = "order.placed", command: bool = False) -> None:
        exchange = topology.commands if command else topology.events
        sender.publish_confirmed(
            [Outgoing(body=body, exchange=exchange, routing_key=routing_key, message_id="m")]
        )

    return publish


def counts(settings: Settings, topology: Topology) -> dict[str, int]:
    """How many messages wait in each worker's parking lot (none held by anybody)."""
    with Connection(settings.broker_url) as connection:
        channel = connection.channel()
        return {
            name: channel.queue_declare(topology.parking_queue_name(name), passive=True)[1]
            for name in WORKERS
        }


def settle(
    settings: Settings, topology: Topology, workers: dict[str, Worker], expected: dict[str, int]
) -> None:
    """Poll the workers until the parking lots hold ``expected``."""

    def step() -> None:
        for worker in workers.values():
            worker.poll(0.02)

    wait_until(
        lambda: counts(settings, topology) == expected, 15, step, f"parking lots at {expected}"
    )


def receipt() -> Envelope:
    """Goods for a SKU stock does not know yet: its handler raises a PermanentError."""
    return wrap(StockReceive(receipt_id="GR-7", sku="LAMP-NEW", quantity=5), source="erp")


@pytest.fixture
def parked(
    settings: Settings, topology: Topology, workers: dict[str, Worker], send: Send
) -> Parked:
    good = wrap(order_placed("ord-schema"), source="intake")
    fed = Parked(
        schema=good.model_copy(update={"data": {**good.data, "lines": "many"}}),
        unknown=wrap(order_placed("ord-unknown"), source="intake").model_copy(
            update={"type": "order.exploded"}
        ),
        oversize=wrap(order_placed("ord-big"), source="intake").model_copy(
            update={"data": {**good.data, "order_id": "ord-big", "padding": "x" * MAX_BYTES}}
        ),
        receipt=receipt(),
    )
    send(b"{not json")
    send(fed.schema.encode())
    send(fed.unknown.encode())
    send(fed.oversize.encode())
    send(fed.receipt.encode(), "stock.receive", command=True)
    send(b"an order, honestly", "order.submit", command=True)
    settle(settings, topology, workers, {"stock": 5, "intake": 1})
    return fed


def kinds(messages: list[ParkedMessage]) -> list[str]:
    return sorted(m.kind for m in messages)


def ran(settings: Settings, *args: str) -> tuple[int, str]:
    """``orderflow <args>`` with this test's settings; (exit code, output on one line)."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERFLOW_")}
    env |= {
        "ORDERFLOW_BROKER_URL": settings.broker_url,
        "ORDERFLOW_DATABASE_URL": settings.database_url,
        "ORDERFLOW_NAMESPACE": settings.namespace,
        "ORDERFLOW_MAX_MESSAGE_BYTES": str(settings.max_message_bytes),
        "COLUMNS": "250",
    }
    result = CliRunner(env=env).invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, " ".join((result.stdout + result.stderr).split())


def audit_rows(settings: Settings, worker: str = "stock") -> list[tuple[str, str, str, bool]]:
    log = AuditLog(settings)
    try:
        return [(r.action, r.order_id, r.result, r.dry_run) for r in log.rows([worker])]
    finally:
        log.dispose()


# -- reading ----------------------------------------------------------------------------------


def test_list_filters_by_worker_order_kind_error_and_time(
    settings: Settings, topology: Topology, parked: Parked
) -> None:
    every = list_parked(settings, Filters())
    assert [m.worker for m in every] == ["intake"] + ["stock"] * 5  # the registry order
    stock = list_parked(settings, Filters(workers=("stock",)))
    assert kinds(stock) == ["handler_error", "invalid", "malformed", "malformed", "unknown_type"]
    assert kinds(list_parked(settings, Filters(workers=("intake",)))) == ["malformed"]

    [schema] = list_parked(settings, Filters(order="ord-schema"))
    assert (schema.kind, schema.message_id, schema.type) == (
        "invalid",
        parked.schema.id,
        "order.placed",
    )
    assert "lines" in schema.reason
    malformed = list_parked(settings, Filters(kind="malformed"))
    assert sorted((m.worker, m.order_id) for m in malformed) == [
        ("intake", ""),
        ("stock", ""),
        ("stock", "ord-big"),
    ]
    [failed] = list_parked(settings, Filters(error="PermanentError"))
    assert (failed.kind, failed.order_id, failed.message_id) == (
        "handler_error",
        "receipt:GR-7",
        parked.receipt.id,
    )
    assert "LAMP-NEW is not stocked" in failed.reason
    [unknown] = list_parked(settings, Filters(kind="unknown_type", workers=("stock",)))
    assert "order.exploded" in unknown.reason

    now = datetime.now(UTC)
    assert len(list_parked(settings, Filters(since=now - timedelta(minutes=1)))) == 6
    assert list_parked(settings, Filters(since=now + timedelta(minutes=1))) == []
    assert list_parked(settings, Filters(until=now - timedelta(minutes=1))) == []
    assert len(list_parked(settings, Filters(ids=(parked.unknown.id, failed.parking_id)))) == 2
    assert counts(settings, topology) == {"stock": 5, "intake": 1}

    code, text = ran(settings, "parking", "list", "--worker", "stock", "--kind", "malformed")
    assert code == 0, text
    assert "2 parked messages" in text
    assert "ord-big" in text and "byte limit" in text
    code, text = ran(settings, "parking", "list", "--since", now.date().isoformat())
    assert (code, "6 parked messages" in text) == (0, True), text
    code, text = ran(settings, "parking", "list", "--order", "nobody")
    assert (code, text) == (0, "no parked messages")


def test_reading_often_loses_nothing_and_parking_queues_have_no_delivery_limit(
    settings: Settings, topology: Topology, parked: Parked
) -> None:
    """Each read requeues every message, which a quorum queue counts as a delivery: with no
    delivery limit on a parking queue, it can count as high as it likes."""
    assert "x-delivery-limit" not in (topology.parking_queue("stock").queue_arguments or {})
    assert "x-delivery-limit" in (topology.worker_queue("stock", []).queue_arguments or {})

    reads = settings.delivery_limit + 5
    for _ in range(reads):
        assert len(list_parked(settings, Filters())) == 6

    assert counts(settings, topology) == {"stock": 5, "intake": 1}
    every = list_parked(settings, Filters())
    assert [m.message_id for m in every][2:5] == [
        parked.schema.id,
        parked.unknown.id,
        parked.oversize.id,
    ]  # the order is kept
    if settings.use_quorum_queues:
        assert min(m.delivery_count for m in every) >= reads


def test_a_parking_queue_with_a_delivery_limit_is_refused_untouched(
    settings: Settings, topology: Topology, send: Send
) -> None:
    """A parking queue declared with a limit (or a TTL, a length limit) could lose what reading
    requeues: the lot refuses to read it rather than requeue into it."""
    name = topology.parking_queue_name("stock")
    limited = Queue(
        name,
        exchange=topology.parking,
        routing_key="stock",
        durable=True,
        queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": 2},
    )
    with Connection(settings.broker_url) as connection:
        limited(connection.default_channel).declare()
        connection.default_channel.basic_publish(
            connection.default_channel.prepare_message(b"parked"), topology.parking.name, "stock"
        )

    with pytest.raises(UnsafeParkingQueue, match="x-delivery-limit"):
        list_parked(settings, Filters(workers=("stock",)))
    code, text = ran(settings, "parking", "list")
    assert code == 1 and "refuses to read it" in text, text

    with Connection(settings.broker_url) as connection:
        assert connection.default_channel.queue_declare(name, passive=True)[1] == 1


def test_show_prints_one_message_in_full(settings: Settings, parked: Parked) -> None:
    code, text = ran(settings, "parking", "show", parked.schema.id)
    assert code == 0, text
    assert f"message id: {parked.schema.id}" in text
    assert "kind: invalid" in text
    assert '"x-orderflow-worker": "stock"' in text
    assert '"lines": "many"' in text  # the body, pretty-printed

    code, text = ran(settings, "parking", "show", "1", "--worker", "intake")
    assert code == 0, text
    assert "kind: malformed" in text and "an order, honestly" in text

    code, text = ran(settings, "parking", "show", parked.oversize.id)
    assert code == 0 and "more characters (--full shows all)" in text, text
    code, full = ran(settings, "parking", "show", parked.oversize.id, "--full")
    assert code == 0 and "x" * MAX_BYTES in full.replace(" ", "")

    code, text = ran(settings, "parking", "show", "nope")
    assert code == 1 and "no parked message 'nope'" in text, text


def test_a_parked_message_keeps_what_its_sender_set_through_show_and_replay(
    settings: Settings,
    topology: Topology,
    workers: dict[str, Worker],
    parked: Parked,
    sender: BrokerLink,
) -> None:
    """A sender finds its own message id, content type, headers and routing key on what was
    parked, and a replay sends them again: here a receipt that fails again is parked again
    with all of them, plus the replay's own headers."""
    identity: dict[str, Any] = {
        "correlation_id": "basket-9",
        "headers": {"x-shop-trace": "t-77"},
        "properties": {"reply_to": "shop.replies", "app_id": "shop"},
    }
    later = wrap(StockReceive(receipt_id="GR-8", sku="LAMP-OTHER", quantity=2), source="erp")
    sender.publish_confirmed(
        [
            Outgoing(
                body=b'{"id": "half an envelope',
                exchange=topology.commands,
                routing_key="order.submit",
                message_id="shop-77",
                content_type=CONTENT_TYPE + "; charset=utf-8",
                **identity,
            ),
            Outgoing(
                body=later.encode(),
                exchange=topology.commands,
                routing_key="stock.receive",
                message_id="shop-78",
                **identity,
            ),
        ]
    )
    settle(settings, topology, workers, {"stock": 6, "intake": 2})

    code, text = ran(settings, "parking", "show", "shop-77")
    assert code == 0, text
    for shown in (
        "message id: shop-77",
        "kind: malformed",
        f"sent to: {topology.commands.name}/order.submit",
        f"content type: {CONTENT_TYPE}; charset=utf-8",
        '"message_id": "shop-77"',
        '"correlation_id": "basket-9"',
        '"reply_to": "shop.replies"',
        '"app_id": "shop"',
        '"x-shop-trace": "t-77"',
    ):
        assert shown in text, f"{shown!r} not in {text}"

    code, text = ran(settings, "parking", "replay", "shop-77", later.id)
    assert code == 1 and "replayed 1 of 2" in text, text  # the malformed one stays
    settle(settings, topology, workers, {"stock": 6, "intake": 2})
    [again] = list_parked(settings, Filters(ids=(later.id,)))
    assert again.sent is not None
    assert {k: again.sent.get(k) for k in ("message_id", "correlation_id", "reply_to")} == {
        "message_id": "shop-78",
        "correlation_id": "basket-9",
        "reply_to": "shop.replies",
    }
    assert again.content_type == CONTENT_TYPE
    assert again.sent_headers["x-shop-trace"] == "t-77"
    assert again.sent_headers["x-orderflow-replayed-from"] != again.parking_id
    [malformed] = list_parked(settings, Filters(ids=("shop-77",)))
    assert malformed.sent_headers == {"x-shop-trace": "t-77"}


# -- replaying --------------------------------------------------------------------------------


def test_a_dry_run_replay_changes_nothing_but_is_audited(
    settings: Settings, topology: Topology, workers: dict[str, Worker], parked: Parked
) -> None:
    code, text = ran(settings, "parking", "replay", "--dry-run", "--worker", "stock")
    assert code == 0, text
    assert "would replay 1 of 5; 4 left parked" in text
    assert "still invalid" in text

    assert sum(worker.poll(0.2) for worker in workers.values()) == 0
    assert counts(settings, topology) == {"stock": 5, "intake": 1}
    rows = audit_rows(settings)
    assert len(rows) == 5 and all(dry for _, _, _, dry in rows)
    assert (
        "replay",
        "receipt:GR-7",
        "would replay to " + topology.worker_queue_name("stock"),
        True,
    ) in rows
    assert audit_rows(settings, "intake") == []


def test_a_message_still_invalid_is_not_replayed(
    settings: Settings, topology: Topology, workers: dict[str, Worker], parked: Parked
) -> None:
    code, text = ran(settings, "parking", "replay", "--order", "ord-schema")
    assert code == 1, text
    assert "left parked: still invalid: invalid order.placed: lines" in text

    code, text = ran(settings, "parking", "replay", "--order", "ord-big")
    assert code == 1 and f"over the {MAX_BYTES}-byte limit" in text, text
    code, text = ran(settings, "parking", "replay", "--kind", "unknown_type")
    assert code == 1 and "stock has no handler for message type 'order.exploded'" in text, text

    settle(settings, topology, workers, {"stock": 5, "intake": 1})
    assert [(a, o, r.split(":")[0], d) for a, o, r, d in audit_rows(settings)] == [
        ("replay", "ord-schema", "left parked", False),
        ("replay", "ord-big", "left parked", False),
        ("replay", "ord-unknown", "left parked", False),
    ]


def test_a_handler_error_replayed_after_the_fix_is_handled_once(
    settings: Settings,
    topology: Topology,
    workers: dict[str, Worker],
    parked: Parked,
    send: Send,
) -> None:
    stock = workers["stock"]
    # The same receipt sent twice: two parked copies of one message.
    send(parked.receipt.encode(), "stock.receive", command=True)
    settle(settings, topology, workers, {"stock": 6, "intake": 1})
    only_receipts = Filters(workers=("stock",), kind="handler_error")
    first, second = list_parked(settings, only_receipts)
    assert first.message_id == second.message_id == parked.receipt.id
    assert first.parking_id != second.parking_id

    # Replayed before the fix: it fails again, and the worker parks it again.
    with audited(settings) as lot:
        [outcome] = lot.replay(lot.read(Filters(ids=(first.parking_id,))))
    assert outcome.result == f"replayed to {topology.worker_queue_name('stock')}"
    settle(settings, topology, workers, {"stock": 6, "intake": 1})
    again = next(
        m for m in list_parked(settings, only_receipts) if m.parking_id != second.parking_id
    )
    assert again.message_id == parked.receipt.id and again.exception == "PermanentError"
    assert again.origin == f"/{topology.worker_queue_name('stock')}"

    # The fix: stock learns the SKU. One copy is replayed and handled.
    assert stock.sessions is not None
    with stock.sessions() as session, session.begin():
        set_level(StockUnitOfWork(session), "LAMP-NEW", 0, SystemClock().now())
    code, text = ran(settings, "parking", "replay", again.parking_id)
    assert code == 0 and "replayed 1 of 1" in text, text
    settle(settings, topology, workers, {"stock": 5, "intake": 1})
    wait_until(lambda: on_hand(stock, "LAMP-NEW") == 5, 10, lambda: stock.poll(0.02))

    # The other copy is the same message: the inbox makes it a no-op.
    duplicates = duplicates_seen()
    code, text = ran(settings, "parking", "replay", "--order", "receipt:GR-7")
    assert code == 0 and "replayed 1 of 1" in text, text
    wait_until(lambda: duplicates_seen() == duplicates + 1, 10, lambda: stock.poll(0.02))
    assert on_hand(stock, "LAMP-NEW") == 5
    settle(settings, topology, workers, {"stock": 4, "intake": 1})

    code, text = ran(settings, "parking", "replay", "--order", "receipt:GR-7")
    assert (code, text) == (0, "no parked messages to replay")
    results = [r for _, o, r, _ in audit_rows(settings) if o == "receipt:GR-7"]
    assert results == [f"replayed to {topology.worker_queue_name('stock')}"] * 3


def on_hand(worker: Worker, sku: str) -> int | None:
    assert worker.sessions is not None
    with worker.sessions() as session:
        item = StockUnitOfWork(session).items.get(sku)
        return None if item is None else item.on_hand


def duplicates_seen() -> float:
    labels = {"worker": "stock", "type": "stock.receive", "outcome": "duplicate"}
    return REGISTRY.get_sample_value("orderflow_messages_total", labels) or 0.0


def test_a_replay_goes_to_the_parking_worker_alone(
    settings: Settings, topology: Topology, workers: dict[str, Worker], parked: Parked
) -> None:
    """Other subscribers of the type had their copy: a probe bound to the exchanges sees
    nothing of a replay. Without the worker's queue nothing is replayed at all."""
    only = Filters(error="PermanentError")
    with Connection(settings.broker_url) as connection:
        probes = [
            connection.SimpleQueue(Queue(f"{settings.namespace}.probe-{e.name}", e, "#"))
            for e in (topology.commands, topology.events)
        ]
        with audited(settings) as lot:
            [outcome] = lot.replay(lot.read(only))
        assert outcome.done
        settle(settings, topology, workers, {"stock": 5, "intake": 1})  # failed, parked again
        assert [probe.qsize() for probe in probes] == [0, 0]
        for probe in probes:
            probe.queue.delete()
            probe.close()

    workers["stock"].link.close()
    with Connection(settings.broker_url) as connection:
        connection.default_channel.queue_delete(topology.worker_queue_name("stock"))
    with audited(settings) as lot:
        [outcome] = lot.replay(lot.read(only))
    assert not outcome.done
    assert "does not exist; start the stock worker once" in outcome.result
    assert counts(settings, topology) == {"stock": 5, "intake": 1}


# -- purging and the audit --------------------------------------------------------------------


def test_purge_needs_yes_and_is_audited(
    settings: Settings, topology: Topology, parked: Parked
) -> None:
    code, text = ran(settings, "parking", "purge", "--worker", "stock", "--kind", "malformed")
    assert code == 2, text
    assert "ord-big" in text and "add --yes" in text
    assert counts(settings, topology) == {"stock": 5, "intake": 1}

    code, text = ran(settings, "parking", "purge", "--kind", "malformed", "--dry-run")
    assert code == 0 and "would purge 3 parked messages" in text, text
    assert counts(settings, topology) == {"stock": 5, "intake": 1}

    code, text = ran(settings, "parking", "purge", "--kind", "malformed", "-w", "stock", "--yes")
    assert code == 0 and "purged 2 parked messages" in text, text
    assert counts(settings, topology) == {"stock": 3, "intake": 1}
    assert kinds(list_parked(settings, Filters(workers=("stock",)))) == [
        "handler_error",
        "invalid",
        "unknown_type",
    ]

    assert sorted(audit_rows(settings)) == [
        ("purge", "", "purged", False),
        ("purge", "", "would purge", True),
        ("purge", "ord-big", "purged", False),
        ("purge", "ord-big", "would purge", True),
    ]
    assert audit_rows(settings, "intake") == [("purge", "", "would purge", True)]

    code, text = ran(settings, "parking", "audit", "--worker", "stock", "--order", "ord-big")
    assert code == 0, text
    assert "purge (dry run)" in text and "would purge" in text and " purged" in text
    assert text.count("ord-big") == 2
    code, text = ran(settings, "parking", "audit")
    assert code == 0, text
    assert (text.count("would purge"), text.count(" purged")) == (3, 2)
    assert operator() in text
