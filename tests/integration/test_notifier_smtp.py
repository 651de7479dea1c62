"""The notifier's promise end to end, on both transports: an event from the broker becomes one
e-mail on a real SMTP server, sent after the commit, whatever the redeliveries, and whatever
happens to the database link meanwhile."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from services.notifier import bootstrap as notifier
from services.notifier.settings import NotifierSettings
from shared.envelope import Envelope, wrap
from shared.health import HealthServer
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.factories import ADA, order_placed
from tests.notifier_support import MailServer, every_event, free_port, mail_server
from tests.support import tear_down, wait_until


@pytest.fixture
def server() -> Iterator[MailServer]:
    with mail_server() as running:
        yield running


@pytest.fixture
def running(settings: Settings, server: MailServer) -> Iterator[Worker]:
    smtp = NotifierSettings(smtp_host="127.0.0.1", smtp_port=server.port, smtp_timeout_seconds=5)
    worker = Worker(notifier.bootstrap(settings=smtp), settings)
    worker.start()
    yield worker
    worker.close()
    tear_down(settings, ["notifier"])


@pytest.fixture
def small_batches(settings: Settings, server: MailServer) -> Iterator[Worker]:
    """A notifier whose courier claims two e-mails a pass, on a loop that would otherwise come
    back to its after-commit work only every 30 seconds."""
    smtp = NotifierSettings(
        smtp_host="127.0.0.1", smtp_port=server.port, smtp_timeout_seconds=5, send_batch_size=2
    )
    slow = settings.model_copy(update={"timer_poll_seconds": 30.0})
    worker = Worker(notifier.bootstrap(settings=smtp), slow)
    worker.start()
    yield worker
    worker.close()
    tear_down(settings, ["notifier"])


@pytest.fixture
def sender(settings: Settings) -> Iterator[BrokerLink]:
    link = BrokerLink(settings.broker_url)
    link.connect()
    yield link
    link.close()


def publish(settings: Settings, sender: BrokerLink, envelope: Envelope) -> None:
    topology = Topology(settings.namespace, settings.use_quorum_queues, settings.delivery_limit)
    outgoing = Outgoing(
        body=envelope.encode(),
        exchange=topology.events,
        routing_key=envelope.type,
        message_id=envelope.id,
    )
    sender.publish_confirmed([outgoing])


def test_an_event_is_emailed_once_whatever_the_redeliveries(
    settings: Settings, running: Worker, server: MailServer, sender: BrokerLink
) -> None:
    placed = wrap(order_placed("ord-mail"), source="intake")

    publish(settings, sender, placed)
    wait_until(lambda: len(server.received) == 1, 20, lambda: running.poll(0.05), "the e-mail")

    handled = 0

    def both_handled() -> bool:
        nonlocal handled
        handled += running.poll(0.05)
        return handled >= 2

    publish(settings, sender, placed)
    publish(settings, sender, wrap(order_placed("ord-mail"), source="intake"))
    wait_until(both_handled, 20, what="the redelivery and the repeat")
    running.run_after_commit()

    [message] = server.received
    assert message["Subject"] == "We have received your order WEB-1001"
    assert running.sessions is not None
    with running.sessions() as session:
        announced = running.tables.outbox.about(session, "ord-mail")
    assert [e.type for e in announced] == ["notification.sent"]
    assert message["Message-ID"] == f"<{announced[0].data['notification_id']}@orderflow>"


def test_a_database_link_lost_between_the_servers_ok_and_the_mark_sends_nothing_twice(
    settings: Settings,
    running: Worker,
    server: MailServer,
    sender: BrokerLink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The notifier's database connections end while the mail server takes the second e-mail
    (as a failover or a restart would end them): its mark fails, the courier keeps it and makes
    it first when the database answers; every e-mail arrives once, announced once."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("ends PostgreSQL connections")
    database = make_url(settings.database_url_for("notifier"))
    admin = create_engine(database.set(database="postgres"), isolation_level="AUTOCOMMIT")
    take = server.handle_DATA

    async def take_then_cut(*args: Any) -> str:
        answer = await take(*args)
        if len(server.received) == 2:
            with admin.connect() as connection:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": database.database},
                )
        return answer

    server.handle_DATA = take_then_cut  # type: ignore[method-assign]
    orders = [f"ord-cut{n}" for n in range(3)]
    try:
        for order_id in orders:
            publish(settings, sender, wrap(order_placed(order_id), source="intake"))
        wait_until(lambda: len(server.received) == 3, 30, lambda: running.poll(0.05), "3 e-mails")
        wait_until(lambda: len(announced(running, orders)) == 3, 30, lambda: running.poll(0.05))
    finally:
        admin.dispose()

    ids = [str(message["Message-ID"]) for message in server.received]
    assert len(set(ids)) == 3
    assert sorted(announced(running, orders)) == sorted(ids)
    assert "recorded when the database answers" in caplog.text


def announced(worker: Worker, order_ids: list[str]) -> list[str]:
    """The Message-IDs of the e-mails announced sent about ``order_ids``."""
    assert worker.sessions is not None
    with worker.sessions() as session:
        envelopes = [e for o in order_ids for e in worker.tables.outbox.about(session, o)]
    return [f"<{e.data['notification_id']}@orderflow>" for e in envelopes]


def test_a_backlog_of_emails_drains_pass_after_pass_without_pauses(
    settings: Settings, small_batches: Worker, server: MailServer, sender: BrokerLink
) -> None:
    orders = [f"ord-many{n}" for n in range(8)]
    for order_id in orders:
        publish(settings, sender, wrap(order_placed(order_id), source="intake"))

    wait_until(lambda: len(server.received) == 8, 10, lambda: small_batches.poll(0.2), "8 e-mails")

    assert len({str(message["Message-ID"]) for message in server.received}) == 8


def test_lanes_send_side_by_side_each_email_once_and_each_orders_in_the_order_of_its_life(
    settings: Settings, server: MailServer, sender: BrokerLink
) -> None:
    """Four lanes (on PostgreSQL; SQLite takes one writer, so one lane there). Each order's
    dispatch notice arrives before its confirmation names the recipient, so both wait and are
    claimed in one batch: they must still reach the customer confirmation first."""
    smtp = NotifierSettings(
        smtp_host="127.0.0.1", smtp_port=server.port, smtp_timeout_seconds=5, send_lanes=4
    )
    worker = Worker(notifier.bootstrap(settings=smtp), settings)
    worker.start()
    try:
        numbers = [f"WEB-{n}" for n in range(30)]
        for number in numbers:
            order_id = f"ord-{number}"
            dispatched = every_event(order_id)["shipment.dispatched"]
            publish(settings, sender, wrap(dispatched, source="shipping"))
            placed = order_placed(order_id, external_id=number)
            publish(settings, sender, wrap(placed, source="intake"))
        wait_until(lambda: len(server.received) == 60, 30, lambda: worker.poll(0.05), "60 e-mails")
    finally:
        worker.close()
        tear_down(settings, ["notifier"])

    assert len({str(message["Message-ID"]) for message in server.received}) == 60
    for number in numbers:
        about = [s for s in server.subjects() if s.endswith(f" {number}") or f" {number} " in s]
        assert about[0] == f"We have received your order {number}", about
        assert len(about) == 2
    connections = len(set(server.peers))
    if settings.database_url.startswith("postgresql"):
        assert connections > 1, "the lanes sent over one connection: one after the other"


# -- a mail server that is down or refuses: unready, tried with backoff, logged once -----------


@pytest.fixture
def start_notifier(settings: Settings) -> Iterator[Callable[[int], Worker]]:
    """A notifier sending to ``port``, whose after-commit work pauses 0.05 s after the first
    failed try, doubling up to 0.4 s (the defaults are 1 s and 30 s)."""
    started: list[Worker] = []
    retry = settings.retry.model_copy(
        update={"after_commit_pause_seconds": 0.05, "after_commit_pause_max_seconds": 0.4}
    )

    def start(port: int) -> Worker:
        smtp = NotifierSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout_seconds=2)
        worker = Worker(
            notifier.bootstrap(settings=smtp), settings.model_copy(update={"retry": retry})
        )
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.close()
    tear_down(settings, ["notifier"])


@pytest.fixture
def readyz() -> Iterator[Callable[[], tuple[int, dict[str, str]]]]:
    """GET /readyz from the health server, as a probe would: its status and its JSON."""
    endpoint = HealthServer(0, "127.0.0.1")

    def get() -> tuple[int, dict[str, str]]:
        url = f"http://127.0.0.1:{endpoint.port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    yield get
    endpoint.close()


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings, each as its event and its error field."""
    return [
        f"{r.getMessage()}: {getattr(r, 'error', '')}"
        for r in caplog.records
        if r.name.startswith("orderflow") and r.levelno >= logging.WARNING
    ]


def keep_polling(worker: Worker, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        worker.poll(0.02)


def test_a_server_turning_every_sender_away_makes_the_notifier_unready_tried_with_backoff(
    settings: Settings,
    server: MailServer,
    start_notifier: Callable[[int], Worker],
    sender: BrokerLink,
    readyz: Callable[[], tuple[int, dict[str, str]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = start_notifier(server.port)
    wait_until(lambda: readyz()[0] == 200, 10, lambda: worker.poll(0.02), "ready at first")
    server.closing = True

    publish(settings, sender, wrap(order_placed("ord-421"), source="intake"))
    wait_until(lambda: "e-mail" in readyz()[1].get("reason", ""), 10, lambda: worker.poll(0.02))
    assert readyz()[1] == {
        "status": "unavailable",
        "reason": "notifier: e-mail cannot go out: the mail server is not taking mail (421)",
    }
    keep_polling(worker, 2.0)

    # without backoff the loop (polled every 20 ms here) would knock about a hundred times
    assert 4 <= server.turned_away <= 20, server.turned_away
    [began] = outage_lines(caplog)
    assert began.startswith(
        "after-commit work unavailable; unready, trying again with backoff: "
        "e-mail cannot go out: the mail server is not taking mail"
    )
    assert ADA.email not in began

    server.closing = False
    wait_until(lambda: len(server.received) == 1, 10, lambda: worker.poll(0.02), "the e-mail")
    assert readyz() == (200, {"status": "ok"})
    [_, ended] = outage_lines(caplog)
    assert ended == "after-commit work back: "


def test_a_mail_server_that_is_down_makes_the_notifier_unready_until_it_is_back(
    settings: Settings,
    start_notifier: Callable[[int], Worker],
    sender: BrokerLink,
    readyz: Callable[[], tuple[int, dict[str, str]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    worker = start_notifier(port)

    publish(settings, sender, wrap(order_placed("ord-down"), source="intake"))
    wait_until(lambda: "e-mail" in readyz()[1].get("reason", ""), 10, lambda: worker.poll(0.02))
    status, verdict = readyz()
    assert status == 503
    assert verdict["reason"].startswith("notifier: e-mail cannot go out: the mail server is unr")
    keep_polling(worker, 1.0)
    assert len(outage_lines(caplog)) == 1

    with mail_server(port) as back:
        wait_until(lambda: len(back.received) == 1, 10, lambda: worker.poll(0.02), "the e-mail")
        assert readyz() == (200, {"status": "ok"})
    assert back.subjects() == ["We have received your order WEB-1001"]
    assert outage_lines(caplog)[-1] == "after-commit work back: "
