"""What the fault tests share: every worker as its own process on the real RabbitMQ and
PostgreSQL, a stream of orders that need no one outside the saga (cards, e-wallets, cash on
delivery, declines, shortages, refused parcels), a mail server where the e-mails are counted,
and the verdict: every order terminal, the four invariants intact, nothing parked, every e-mail
the notifier recorded as sent received, and none received twice beyond what the test allows.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from kombu import Connection
from sqlalchemy import func, select

from orderflow.cluster.channel import ChannelPublisher, submit_envelope
from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.processes import ProcessCluster, Replica
from orderflow.cluster.registry import NAMES
from orderflow.operator.audit import Audit, audit
from orderflow.operator.operations import await_listed, set_stock
from orderflow.scenarios.catalogue import CATALOGUE, PRICES
from services.intake.model import TERMINAL, Order
from services.notifier.model import Notification, NotificationStatus
from shared.settings import Settings
from shared.topology import Topology
from tests.notifier_support import free_port

FAST = {
    "ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS": "0.2",
    "ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS": "0.4",
    "ORDERFLOW_SHIPPING_DELIVERY_ATTEMPTS": "2",
    "ORDERFLOW_SHIPPING_DELIVERY_RETRY_INTERVAL_SECONDS": "0.2",
    "ORDERFLOW_INTAKE_COMPLETION_WINDOW_SECONDS": "0.5",
    "ORDERFLOW_AFTERSALES_RETURN_WINDOW_SECONDS": "0.5",
    "ORDERFLOW_TIMER_POLL_SECONDS": "0.05",
    "ORDERFLOW_OUTBOX_SWEEP_SECONDS": "0.5",
    "ORDERFLOW_HEARTBEAT_SECONDS": "5",
    "ORDERFLOW_NOTIFIER_SMTP_TIMEOUT_SECONDS": "2",
    "ORDERFLOW_NOTIFIER_SEND_LEASE_SECONDS": "15",  # a killed notifier's claim, taken over
}
STREET = {"line1": "Invalidenstr. 117", "city": "Berlin", "postal_code": "10115", "country": "DE"}
REFUSING = {**STREET, "line1": "REFUSED Str. 1"}
SCARCE_SKU = "TRAY-OAK"
SCARCE_ON_HAND = 40


def order(number: int, rng: random.Random) -> dict[str, Any]:
    """One of a mix that mostly completes: one in ten declined, one in twenty refused at the
    door, now and then more oak trays than are left."""
    roll = rng.random()
    method, token = rng.choice(
        [("card", "tok_visa"), ("e_wallet", "tok_wallet"), ("cash_on_delivery", None)]
    )
    if roll < 0.1:
        method, token = "card", "tok_decline_insufficient_funds"
    skus = rng.sample([p.sku for p in CATALOGUE if p.sku != SCARCE_SKU], rng.randint(1, 3))
    if rng.random() < 0.1:
        skus.append(SCARCE_SKU)
    lines = [{"sku": sku, "quantity": rng.randint(1, 3), "unit_price": PRICES[sku]} for sku in skus]
    return {
        "channel": rng.choice(["web", "marketplace", "pos", "phone"]),
        "external_id": f"F-{number}",
        "customer": {"name": "Fault Tester", "email": "faults@example.com", "language": "en"},
        "lines": lines,
        "currency": "EUR",
        "shipping_fee": 495,
        "delivery": {
            "option": "standard",
            "address": REFUSING if 0.1 <= roll < 0.15 else STREET,
        },
        "payment": {"method": method, "token": token},
    }


class MailSink:
    """A real SMTP server (aiosmtpd) in the test process, where the notifiers send: the outside
    world's count of e-mails, by Message-ID, in the order they arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[str] = []
        self.answer_after = 0.0  # seconds before each "250 OK", as a distant server takes
        self._parser = BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer_after:
            await asyncio.sleep(self.answer_after)
        self.received.append(str(self._parser.parsebytes(envelope.content)["Message-ID"]))
        return "250 OK"

    def repeated(self) -> dict[str, int]:
        """Message-IDs received more than once, with how often."""
        return {mid: n for mid, n in Counter(self.received).items() if n > 1}

    def repeats(self) -> int:
        """E-mails received beyond the first of their Message-ID."""
        return len(self.received) - len(set(self.received))

    @contextmanager
    def serving(self) -> Iterator[MailSink]:
        controller = Controller(self, hostname="127.0.0.1", port=self.port)
        controller.start()
        try:
            yield self
        finally:
            controller.stop()


@dataclass
class Run:
    """A cluster, its databases, the mail server it sends to, and the orders sent to it."""

    settings: Settings
    cluster: ProcessCluster
    dbs: WorkerDatabases
    mail: MailSink
    rng: random.Random = field(default_factory=lambda: random.Random(42))
    submitted: int = 0

    def stock_shelves(self) -> None:
        """Stock the catalogue and wait until intake knows it, so no order is refused for it."""
        for product in CATALOGUE:
            on_hand = SCARCE_ON_HAND if product.sku == SCARCE_SKU else 1_000_000
            set_stock(self.settings, product.sku, on_hand, product.location, product.weight_grams)
        await_listed(self.settings, [product.sku for product in CATALOGUE])

    def submit(self, count: int, batch: int = 100) -> None:
        with ChannelPublisher(self.settings) as channel:
            for start in range(0, count, batch):
                orders = [
                    order(self.submitted + n, self.rng) for n in range(min(batch, count - start))
                ]
                channel.send([submit_envelope(o) for o in orders])
                self.submitted += len(orders)

    def statuses(self) -> Counter[str]:
        with self.dbs.session("intake") as session:
            query = select(Order.status, func.count()).group_by(Order.status)
            return Counter({status: int(n) for status, n in session.execute(query)})

    def terminal(self) -> int:
        counts = self.statuses()
        return sum(counts[status] for status in TERMINAL)

    def wait_all_terminal(
        self, timeout: float, while_waiting: Callable[[], object] | None = None
    ) -> None:
        deadline = time.monotonic() + timeout
        while self.terminal() < self.submitted:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.submitted - self.terminal()} of {self.submitted} orders not terminal "
                    f"after {timeout:.0f}s: {dict(self.statuses())}; logs in {self.cluster.log_dir}"
                )
            if while_waiting is not None:
                while_waiting()
            time.sleep(0.2)

    def wait_quiet(self, timeout: float = 60) -> None:
        """Until every worker queue has stayed empty for a second and every outbox is sent:
        the last e-mails of terminal orders may still be on their way."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while True:
            now = time.monotonic()
            if self._queued() == 0 and self._unsent() == 0:
                quiet_since = quiet_since or now
                if now - quiet_since >= 1.0:
                    return
            else:
                quiet_since = None
            if now > deadline:
                raise AssertionError(f"still busy after {timeout:.0f}s: see {self.cluster.log_dir}")
            time.sleep(0.2)

    def _queued(self) -> int:
        with Connection(self.settings.broker_url) as connection:
            channel = connection.channel()
            return sum(
                channel.queue_declare(self._topology.worker_queue_name(name), passive=True)[1]
                for name in NAMES
            )

    def wait_consuming(self, timeout: float) -> float:
        """Seconds until every worker's queue has a consumer for each of its replicas again."""
        started = time.monotonic()
        while True:
            missing = self._missing_consumers()
            if not missing:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(f"not consuming after {timeout:.0f}s: {missing}")
            time.sleep(0.05)

    def _missing_consumers(self) -> dict[str, int]:
        """Per worker, how many of its replicas do not consume its queue (all, while the
        broker still recovers the queue)."""
        wanted = Counter(replica.name for replica in self.cluster.alive())
        try:
            with Connection(self.settings.broker_url, connect_timeout=2) as connection:
                channel = connection.channel()
                consuming = {
                    name: channel.queue_declare(
                        self._topology.worker_queue_name(name), passive=True
                    )[2]
                    for name in wanted
                }
        except Exception:
            return dict(wanted)
        return {name: n - consuming[name] for name, n in wanted.items() if consuming[name] < n}

    @property
    def _topology(self) -> Topology:
        return Topology(
            self.settings.namespace, self.settings.use_quorum_queues, self.settings.delivery_limit
        )

    def _unsent(self) -> int:
        unsent = 0
        for name in NAMES:
            with self.dbs.session(name) as session:
                unsent += self.dbs.tables[name].outbox.backlog(session)
        return unsent

    def verdict(self, repeats_allowed: int = 0) -> Audit:
        """Let the last messages land and the last e-mails go, stop the workers, then audit
        their tables and count the e-mails at the mail server: each one the notifier recorded
        as sent arrived, nothing else did, and at most ``repeats_allowed`` arrived twice."""
        self.wait_quiet()
        self.wait_mail_settled()
        self.wait_quiet()  # the last e-mails' notification.sent published
        codes = self.cluster.stop()
        assert all(code in (0, None) or code < 0 for code in codes.values()), codes
        report = audit(self.dbs)
        assert report.violations == [], report.violations[:20]
        assert report.orders == self.submitted
        assert parked(self.settings) == {}
        sent = self.sent_message_ids()
        received = set(self.mail.received)
        assert sent - received == set(), f"recorded as sent, never received: {sent - received}"
        assert received - sent == set(), f"received, not recorded as sent: {received - sent}"
        assert self.mail.repeats() <= repeats_allowed, (
            f"{self.mail.repeats()} e-mails repeated (at most {repeats_allowed} allowed): "
            f"{self.mail.repeated()}"
        )
        return report

    def wait_mail_settled(self, timeout: float = 60) -> None:
        """Until no e-mail waits to be sent (a killed notifier's claim runs out first)."""
        deadline = time.monotonic() + timeout
        while (unsent := self.unsent_mail()) > 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{unsent} e-mails unsent after {timeout:.0f}s")
            time.sleep(0.2)

    def unsent_mail(self) -> int:
        waiting = [NotificationStatus.PENDING, NotificationStatus.SENDING]
        with self.dbs.session("notifier") as session:
            query = select(func.count()).where(Notification.status.in_(waiting))
            return int(session.scalar(query) or 0)

    def sent_message_ids(self) -> set[str]:
        with self.dbs.session("notifier") as session:
            query = select(Notification.id).where(Notification.status == NotificationStatus.SENT)
            return {f"<{notification_id}@orderflow>" for notification_id in session.scalars(query)}

    def replica(self, name: str, index: int = 0) -> Replica:
        return next(r for r in self.cluster.alive() if (r.name, r.index) == (name, index))


def parked(settings: Settings) -> dict[str, int]:
    """Messages each worker put in its parking lot."""
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    counts = {}
    with Connection(settings.broker_url) as connection:
        channel = connection.channel()
        for name in NAMES:
            _, count, _ = channel.queue_declare(topology.parking_queue_name(name), passive=True)
            if count:
                counts[name] = count
    return counts


@contextmanager
def running(
    settings: Settings,
    tmp_path: Path,
    replicas: Mapping[str, int] | None = None,
    env: Mapping[str, str] | None = None,
    metrics_port_base: int = 0,
) -> Iterator[Run]:
    """Every worker as processes (``replicas`` per worker), shelves stocked, e-mail going to a
    mail server in this process; each serves its metrics from ``metrics_port_base`` on, if
    given."""
    with MailSink().serving() as mail:
        smtp = {
            "ORDERFLOW_NOTIFIER_SMTP_HOST": "127.0.0.1",
            "ORDERFLOW_NOTIFIER_SMTP_PORT": str(mail.port),
        }
        cluster = ProcessCluster(
            settings,
            tmp_path / "logs",
            env={**FAST, **smtp, **(env or {})},
            replicas=replicas or {},
            metrics_port_base=metrics_port_base,
        )
        dbs: WorkerDatabases | None = None
        try:  # a start that fails half-way (no database connection left, say) stops what it started
            cluster.start()
            dbs = WorkerDatabases(settings)
            run = Run(settings, cluster, dbs, mail)
            run.stock_shelves()
            yield run
        finally:
            cluster.stop()
            if dbs is not None:
                dbs.dispose()
