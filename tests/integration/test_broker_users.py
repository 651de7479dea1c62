"""Least privilege on the real RabbitMQ: the definitions ``orderflow topology export`` writes,
loaded into a fresh vhost, with every worker a process of its own under its own broker user and
checking who sent each delivery. The broker refuses what a user may not publish; a worker parks
what the broker cannot judge (a message that names no sender)."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pika
import pytest
from orderflow_channel import ChannelClient
from pika.exceptions import ChannelClosedByBroker

from orderflow.cluster.channel import submit_envelope
from orderflow.cluster.processes import ProcessCluster
from orderflow.cluster.registry import NAMES
from orderflow.cluster.users import broker_users
from orderflow.export.definitions import Passwords, definitions
from orderflow.operator.operations import await_listed, set_stock
from orderflow.scenarios.catalogue import CATALOGUE
from orderflow.scenarios.orders import extra
from shared.database import drop_postgres_database
from shared.settings import Settings
from tests.e2e.conftest import FAST_TIME
from tests.required import required
from tests.support import real_settings, wait_until

pytestmark = pytest.mark.real


@dataclass(frozen=True)
class Secured:
    settings: Settings
    vhost: str
    passwords: dict[str, str]
    host: str

    def url(self, user: str) -> str:
        return f"amqp://{user}:{self.passwords[user]}@{self.host}/{self.vhost}"

    def user(self, who: str) -> str:
        return f"{self.settings.broker_user_prefix}{who}"

    def env(self, password_dir: Path) -> dict[str, str]:
        return {
            **FAST_TIME,
            "ORDERFLOW_BROKER_PASSWORD_FILE": self.settings.broker_password_file,
            "ORDERFLOW_BROKER_USER_PREFIX": self.settings.broker_user_prefix,
            "ORDERFLOW_VERIFY_PUBLISHERS": "true",
            "ORDERFLOW_CHANNELS": json.dumps(self.settings.channels),
        }


def rabbitmqctl(*args: str, stdin: str | None = None) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], input=stdin, text=True, check=True, timeout=60)


@pytest.fixture(scope="module")
def secured(
    rabbitmq_url: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    """A fresh vhost holding the exported definitions, with users of a prefix of their own
    (users are the broker's, not the vhost's); both deleted afterwards."""
    parts = urlsplit(rabbitmq_url)
    if shutil.which("rabbitmqctl") is None or parts.hostname not in ("127.0.0.1", "localhost"):
        required("rabbitmqctl is needed on the broker's own host, to load the definitions")
    run = uuid.uuid4().hex[:8]
    vhost, prefix = f"orderflow-test-{run}", f"t{run}-"
    password_dir = tmp_path_factory.mktemp("broker-passwords")
    settings = real_settings(
        f"lp{run}",
        f"amqp://{prefix}{{worker}}@{parts.hostname}:{parts.port or 5672}/{vhost}",
        postgres_url,
        broker_password_file=f"{password_dir}/{prefix}{{worker}}",
        broker_user_prefix=prefix,
        channels=["web"],
        verify_publishers=True,
    )
    users = [user.name for user in broker_users(settings)]
    passwords = Passwords(password_dir, {}, generate=True).of(users)
    rabbitmqctl("import_definitions", stdin=json.dumps(definitions(settings, vhost, passwords)))
    secured = Secured(settings, vhost, passwords, f"{parts.hostname}:{parts.port or 5672}")
    try:
        wait_until(lambda: _all_there(secured), timeout=30, what="the definitions imported")
        yield secured
    finally:
        rabbitmqctl("delete_vhost", vhost)
        names = ",".join(f'<<"{user}">>' for user in users)
        rabbitmqctl(
            "eval",
            f'[rabbit_auth_backend_internal:delete_user(U, <<"tests">>) || U <- [{names}]].',
        )
        for name in NAMES:
            drop_postgres_database(settings.database_url_for(name))


def _all_there(secured: Secured) -> bool:
    """The import is asynchronous: done once the last user can see the last queue."""
    try:
        with _connection(secured, secured.user("channel-web")) as connection:
            connection.channel().queue_declare(
                f"{secured.settings.namespace}.channel.web", passive=True
            )
        return True
    except Exception:
        return False


def _connection(secured: Secured, user: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(secured.url(user)))


def _publish(
    secured: Secured,
    user: str,
    exchange: str,
    routing_key: str,
    user_id: str | None,
) -> None:
    """Publish an envelope of type ``routing_key`` as ``user`` with a confirm."""
    envelope = submit_envelope(extra(1, seed=11)[0])
    body = envelope.model_copy(update={"type": routing_key}).encode()
    with _connection(secured, user) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            f"{secured.settings.namespace}.{exchange}",
            routing_key,
            body,
            pika.BasicProperties(
                content_type="application/cloudevents+json",
                message_id=envelope.id,
                user_id=user_id,
                delivery_mode=2,
            ),
        )


def test_the_broker_refuses_what_a_user_may_not_publish(secured: Secured) -> None:
    payment, web = secured.user("payment"), secured.user("channel-web")

    with pytest.raises(ChannelClosedByBroker, match=r"403.*topic 'stock.reserved'"):
        _publish(secured, payment, "events", "stock.reserved", payment)
    with pytest.raises(ChannelClosedByBroker, match=r"403.*exchange '.*events'"):
        _publish(secured, web, "events", "payment.captured", web)
    with pytest.raises(ChannelClosedByBroker, match=r"403.*topic 'payment.captured'"):
        _publish(secured, web, "commands", "payment.captured", web)
    with pytest.raises(ChannelClosedByBroker, match=r"406.*user_id property set to"):
        _publish(secured, web, "commands", "order.submit", secured.user("intake"))
    _publish(secured, payment, "events", "payment.captured", payment)  # what it may
    with _connection(secured, secured.user("monitoring")) as connection:  # KEDA's way to count
        queue = f"{secured.settings.namespace}.payment"
        assert connection.channel().queue_declare(queue, passive=True).method.queue == queue
    with pytest.raises(ChannelClosedByBroker, match=r"403.*exchange '.*commands'"):
        _publish(secured, secured.user("monitoring"), "commands", "order.submit", None)


def test_every_worker_under_its_own_user_completes_an_order_and_parks_an_unsigned_one(
    secured: Secured, tmp_path: Path
) -> None:
    settings = secured.settings
    env = {**secured.env(tmp_path), "ORDERFLOW_NOTIFIER_MAILDIR": str(tmp_path / "mail")}
    cluster = ProcessCluster(settings, tmp_path / "logs", env=env)
    try:
        cluster.start()
        for product in CATALOGUE:
            set_stock(settings, product.sku, 100, product.location, product.weight_grams)
        await_listed(settings, [product.sku for product in CATALOGUE])
        order = {**extra(1, seed=3)[0], "channel": "web"}
        web = secured.user("channel-web")
        with ChannelClient(secured.url(web), "web", namespace=settings.namespace) as client:
            client.listen()
            answer = client.answer(client.submit(order), timeout=30)
            assert answer.placed, answer.problems
            assert client.end(answer.order_id, timeout=60).type == "order.completed"

        _publish(secured, web, "commands", "order.submit", None)

        parked = _parked(secured, "intake")
        assert [(p["x-orderflow-kind"], p["x-orderflow-user-id"]) for p in parked] == [
            ("forged", "")
        ]
        assert "user_id: missing" in str(parked[0]["x-orderflow-reason"])
    finally:
        cluster.stop()
    assert not any("ACCESS_REFUSED" in r.log.read_text() for r in cluster.running)


def _parked(secured: Secured, worker: str, timeout: float = 20) -> list[dict[str, object]]:
    """The headers of what waits in ``worker``'s parking lot, read at the broker as the
    operator (and put back)."""
    queue = f"{secured.settings.namespace}.{worker}.parking"
    found: list[dict[str, object]] = []

    def read() -> bool:
        found.clear()
        with _connection(secured, secured.user("operator")) as connection:
            channel = connection.channel()
            while (got := channel.basic_get(queue))[0] is not None:
                found.append(dict(got[1].headers or {}))
            return bool(found)

    wait_until(read, timeout=timeout, what=f"a message in {queue}")
    return found
