"""Least privilege on the broker, as far as it can be seen without RabbitMQ: the definitions
``orderflow topology export`` writes (users, permissions, topic permissions, password hashes),
the check a worker makes on each delivery's ``user_id``, and the whole saga in one process with
that check on. tests/integration/test_broker_users.py loads the same definitions into RabbitMQ.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.cluster.channel import submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.embedded import Cluster
from orderflow.cluster.registry import NAMES, build, publishes
from orderflow.cluster.users import senders
from orderflow.demo.run import stock_the_shelves
from orderflow.export.definitions import MissingPasswords, Passwords, definitions, password_hash
from orderflow.operator.audit import audit
from orderflow.scenarios.orders import extra
from orderflow.scenarios.terms import worker_settings
from shared.brokers import BrokerUrlError, url_for
from shared.clock import ManualClock, SystemClock
from shared.envelope import Envelope
from shared.event_batches import BATCHED
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.support import memory_settings

SETTINGS = Settings(channels=["web", "pos"])
PASSWORDS = {user: f"secret-{user}" for user in senders(SETTINGS).allowed}


@pytest.fixture(scope="module")
def exported() -> dict[str, Any]:
    return definitions(SETTINGS, "shop", PASSWORDS)


def topic(exported: dict[str, Any], user: str, exchange: str) -> dict[str, str]:
    [found] = [
        t
        for t in exported["topic_permissions"]
        if t["user"] == user and t["exchange"] == f"orderflow.{exchange}"
    ]
    return found


def permission(exported: dict[str, Any], user: str) -> dict[str, str]:
    [found] = [p for p in exported["permissions"] if p["user"] == user]
    return found


def allows(regex: str, name: str) -> bool:
    return re.search(regex, name) is not None


def test_the_password_hash_is_rabbitmqs_salted_sha256() -> None:
    stored = base64.b64decode(password_hash("s3cret", salt=b"\x90\x8d\xc6\x0a"))

    assert stored[:4] == b"\x90\x8d\xc6\x0a"
    assert stored[4:] == hashlib.sha256(b"\x90\x8d\xc6\x0as3cret").digest()
    assert password_hash("s3cret") != password_hash("s3cret"), "a fresh salt each time"


def test_one_user_per_worker_per_channel_and_the_operator(exported: dict[str, Any]) -> None:
    users = {u["name"]: u for u in exported["users"]}

    assert set(users) == {
        *(f"orderflow-{name}" for name in NAMES),
        "orderflow-channel-web",
        "orderflow-channel-pos",
        "orderflow-operator",
        "orderflow-monitoring",
    }
    assert users["orderflow-monitoring"]["tags"] == ["monitoring"]
    assert permission(exported, "orderflow-monitoring") == {
        "user": "orderflow-monitoring",
        "vhost": "shop",
        "configure": "^$",
        "write": "^$",
        "read": "^$",
    }
    stored = base64.b64decode(users["orderflow-stock"]["password_hash"])
    assert stored[4:] == hashlib.sha256(stored[:4] + b"secret-orderflow-stock").digest()
    assert {u["hashing_algorithm"] for u in users.values()} == {"rabbit_password_hashing_sha256"}
    assert exported["vhosts"] == [{"name": "shop"}]


@pytest.mark.parametrize("worker", NAMES)
def test_a_worker_may_publish_exactly_the_types_its_bootstrap_declares(
    exported: dict[str, Any], worker: str
) -> None:
    events = topic(exported, f"orderflow-{worker}", "events")
    everything = {c.type for name in NAMES for c in publishes(name)}

    assert {t for t in everything if allows(events["write"], t)} == {
        c.type for c in publishes(worker)
    }
    assert not allows(topic(exported, f"orderflow-{worker}", "commands")["write"], "order.submit")
    batched = topic(exported, f"orderflow-{worker}", "events.batched")
    assert {t for t in everything if allows(batched["write"], t)} == {
        c.type for c in publishes(worker) if c in BATCHED
    }, "its business events again in batches"


@pytest.mark.parametrize("worker", NAMES)
def test_a_worker_touches_only_its_own_queues_and_binds_only_what_it_handles(
    exported: dict[str, Any], worker: str
) -> None:
    granted = permission(exported, f"orderflow-{worker}")
    other = "payment" if worker != "payment" else "stock"

    for name in (f"orderflow.{worker}", f"orderflow.{worker}.parking"):
        assert all(allows(granted[what], name) for what in ("configure", "write", "read"))
    for name in (f"orderflow.{other}", f"orderflow.{other}.parking", "orderflow.channel.web"):
        assert not any(allows(granted[what], name) for what in ("configure", "write", "read"))
    for exchange in ("orderflow.events", "orderflow.commands", "orderflow.parking"):
        assert not allows(granted["configure"], exchange), "nobody may delete an exchange"
    assert allows(granted["write"], "orderflow.parking")
    service = build(worker)
    handled = {c.type for c in service.subscriptions if c.kind == "event"}
    heard_on, not_on = (
        ("events.batched", "events") if service.batched else ("events", "events.batched")
    )
    read = topic(exported, f"orderflow-{worker}", heard_on)["read"]
    assert {t for t in {"stock.reserved", "order.placed", *handled} if allows(read, t)} == handled
    assert topic(exported, f"orderflow-{worker}", not_on)["read"] == "^$"
    assert allows(granted["read"], f"orderflow.{heard_on}")


def test_intake_may_copy_its_order_events_to_any_channels_queue(exported: dict[str, Any]) -> None:
    write = topic(exported, "orderflow-intake", "events")["write"]

    assert allows(write, "channel.web.order.placed")
    assert allows(write, "channel.newshop.order.completed")
    assert not allows(write, "channel.web.payment.captured")


def test_a_channel_may_submit_orders_and_hear_only_its_own(exported: dict[str, Any]) -> None:
    granted = permission(exported, "orderflow-channel-web")
    commands = topic(exported, "orderflow-channel-web", "commands")
    events = topic(exported, "orderflow-channel-web", "events")
    sent_by_anyone = {c.type for name in NAMES for c in publishes(name)}

    assert [
        t for t in ("order.submit", "order.cancel", "stock.receive") if allows(commands["write"], t)
    ] == ["order.submit"]
    assert not any(allows(events["write"], t) for t in sent_by_anyone)
    assert not allows(granted["write"], "orderflow.events")
    assert allows(events["read"], "channel.web.#")
    assert not allows(events["read"], "channel.pos.#")
    assert not allows(events["read"], "#")
    assert granted["configure"] == "^(orderflow\\.channel\\.web)$"


def test_the_operator_sends_the_back_office_commands_and_reads_the_parking_lots(
    exported: dict[str, Any],
) -> None:
    granted = permission(exported, "orderflow-operator")
    commands = topic(exported, "orderflow-operator", "commands")["write"]

    assert allows(commands, "order.cancel") and allows(commands, "payment.notification")
    assert not allows(commands, "order.submit")
    assert not allows(topic(exported, "orderflow-operator", "events")["write"], "stock.reserved")
    assert allows(granted["read"], "orderflow.payment.parking")
    assert not allows(granted["read"], "orderflow.payment")
    assert allows(granted["write"], "amq.default"), "a replay goes to one queue by name"


def test_the_queues_are_declared_as_the_workers_declare_them(exported: dict[str, Any]) -> None:
    topology = Topology("orderflow", quorum=True, delivery_limit=SETTINGS.delivery_limit)
    queues = {q["name"]: q for q in exported["queues"]}
    service = build("payment")

    worker_queue = topology.worker_queue("payment", service.subscriptions)
    reporting = build("reporting")
    reporting_queue = topology.worker_queue("reporting", reporting.subscriptions, batched=True)
    assert queues["orderflow.payment"]["arguments"] == worker_queue.queue_arguments
    assert queues["orderflow.channel.web"]["arguments"] == {"x-queue-type": "quorum"}
    bound = {
        (b["source"], b["routing_key"])
        for b in exported["bindings"]
        if b["destination"] == "orderflow.payment"
    }
    assert bound == {(b.exchange.name, b.routing_key) for b in worker_queue.bindings}
    heard = {b["source"] for b in exported["bindings"] if b["destination"] == "orderflow.reporting"}
    assert heard == {"orderflow.events.batched"} and len(reporting_queue.bindings) > 10


def test_the_workers_check_who_may_send_what() -> None:
    check = senders(SETTINGS)

    assert check.problem("orderflow-stock", "stock.reserved") is None
    assert check.problem("orderflow-payment", "stock.reserved") == (
        "type: 'orderflow-payment' may not send 'stock.reserved'"
    )
    web, pos = {"channel": "web"}, {"channel": "pos"}
    assert check.problem("orderflow-channel-web", "order.submit", web) is None
    assert check.problem("orderflow-channel-web", "order.submit", pos) == (
        "data.channel: 'orderflow-channel-web' may send for channel 'web' only"
    )
    assert check.problem("orderflow-channel-web", "order.submit", {}) is not None
    assert check.problem("orderflow-channel-web", "payment.captured", web) is not None
    assert check.problem("orderflow-operator", "payment.captured") is None, "replays"
    assert check.problem("guest", "order.submit") == (
        "user_id: 'guest' is no broker user of orderflow's"
    )
    assert check.problem(None, "order.submit") is not None
    assert check.problem("orderflow-monitoring", "order.submit") is not None
    newshop = {"channel": "newshop"}
    assert check.problem("orderflow-channel-newshop", "order.submit", newshop) is None, (
        "the broker's users say which channels there are"
    )
    assert check.problem("orderflow-channel-newshop", "order.cancel", newshop) is not None


def test_passwords_come_from_files_then_the_environment_or_are_refused(tmp_path: Path) -> None:
    (tmp_path / "orderflow-stock").write_text("from-file\n")
    environ = {"ORDERFLOW_BROKER_PASSWORD_ORDERFLOW_PAYMENT": "from-env"}
    source = Passwords(tmp_path, environ)
    fresh = tmp_path / "fresh"

    assert source.of(["orderflow-stock", "orderflow-payment"]) == {
        "orderflow-stock": "from-file",
        "orderflow-payment": "from-env",
    }
    with pytest.raises(MissingPasswords, match="none for orderflow-intake"):
        source.of(["orderflow-intake"])
    generated = Passwords(fresh, environ, generate=True).of(["orderflow-intake"])
    assert (fresh / "orderflow-intake").read_text().strip() == generated["orderflow-intake"]
    assert len(generated["orderflow-intake"]) >= 32
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700, "the directory keeps others out"


def test_the_export_command_writes_definitions_without_passwords_when_asked(
    tmp_path: Path,
) -> None:
    out = tmp_path / "definitions.json"
    result = CliRunner().invoke(
        app, ["topology", "export", "--no-passwords", "--channels", "web", "-o", str(out)]
    )

    assert result.exit_code == 0, result.output
    users = json.loads(out.read_text())["users"]
    assert {u["password_hash"] for u in users} == {""}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    refused = CliRunner().invoke(app, ["topology", "export", "--channels", "Web!"])
    assert refused.exit_code == 2 and "--channels" in refused.output


def test_a_worker_reads_its_broker_password_from_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "broker-stock").write_text("p@ss/word\n")
    template = "amqp://orderflow-{worker}@rabbitmq:5672/shop"

    url = url_for(template, str(tmp_path / "broker-{worker}"), "stock")

    assert url == "amqp://orderflow-stock:p%40ss%2Fword@rabbitmq:5672/shop"
    with pytest.raises(BrokerUrlError, match="ORDERFLOW_BROKER_PASSWORD_FILE: cannot read"):
        url_for(template, str(tmp_path / "broker-{worker}"), "payment")


def test_a_worker_that_would_sign_as_someone_else_refuses_to_start(tmp_path: Path) -> None:
    settings = memory_settings("x", tmp_path, verify_publishers=True)

    with pytest.raises(BrokerUrlError, match="no map of who may send what"):
        Worker(build("stock"), settings)
    other = settings.model_copy(update={"broker_user_prefix": "shop-"})
    with pytest.raises(BrokerUrlError, match="stock connects as 'shop-stock'"):
        Worker(build("stock"), other, trust=senders(settings))


# -- the saga in one process, every delivery checked -------------------------------------------


@pytest.fixture
def verifying(namespace: str, tmp_path: Path) -> Iterator[tuple[Cluster, Settings]]:
    settings = memory_settings(namespace, tmp_path, verify_publishers=True)
    clock = ManualClock(SystemClock().now().replace(microsecond=0))
    cluster = Cluster(settings, clock, worker_settings=worker_settings(tmp_path), strict=True)
    cluster.start()
    stock_the_shelves(cluster, clock)
    yield cluster, settings
    cluster.close()


def submit(settings: Settings, envelope: Envelope, user_id: str | None) -> None:
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    link = BrokerLink(settings.broker_url)
    link.connect()
    try:
        link.publish_confirmed(
            [
                Outgoing(
                    body=envelope.encode(),
                    exchange=topology.commands,
                    routing_key=envelope.type,
                    message_id=envelope.id,
                    properties={"user_id": user_id} if user_id else {},
                )
            ]
        )
    finally:
        link.close()


def test_with_every_delivery_checked_an_order_completes_and_a_forged_one_is_parked(
    verifying: tuple[Cluster, Settings],
) -> None:
    cluster, settings = verifying
    [order, unsigned, forged, elsewhere] = extra(4, seed=5)
    submit(settings, submit_envelope(order), f"orderflow-channel-{order['channel']}")
    submit(settings, submit_envelope(unsigned), None)
    submit(settings, submit_envelope(forged), "orderflow-payment")
    other = "web" if elsewhere["channel"] != "web" else "pos"
    submit(settings, submit_envelope(elsewhere), f"orderflow-channel-{other}")

    cluster.settle()

    dbs = WorkerDatabases(settings)
    try:
        report = audit(dbs)
    finally:
        dbs.dispose()
    assert (report.orders, report.by_status["completed"], report.violations) == (1, 1, [])
    parked = parked_kinds(settings)
    assert parked == [
        ("forged", ""),
        ("forged", f"orderflow-channel-{other}"),
        ("forged", "orderflow-payment"),
    ]


def parked_kinds(settings: Settings) -> list[tuple[str, str]]:
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    found = []
    with Connection(settings.broker_url) as connection:
        queue = connection.SimpleQueue(topology.parking_queue_name("intake"))
        while queue.qsize():
            message = queue.get(timeout=1)
            found.append(
                (message.headers["x-orderflow-kind"], message.headers["x-orderflow-user-id"])
            )
            message.ack()
    return sorted(found)
