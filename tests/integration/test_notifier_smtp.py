"""The notifier's promise end to end, on both transports: an event from the broker becomes one
e-mail on a real SMTP server, sent after the commit, whatever the redeliveries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.notifier import worker as notifier
from services.notifier.settings import NotifierSettings
from shared.envelope import Envelope, wrap
from shared.messaging import BrokerLink, Outgoing
from shared.settings import Settings
from shared.topology import Topology
from shared.worker import Worker
from tests.factories import order_placed
from tests.notifier_support import MailServer, mail_server
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
