"""The notifier's courier, as a specification, against a real SMTP server started in the test:
what the handlers left pending is sent once after their commit, marked sent and announced in one
transaction; a refused recipient is recorded as failed; a server in trouble leaves it pending."""

from __future__ import annotations

import logging
import mailbox
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from services.notifier.bootstrap import bootstrap
from services.notifier.model import Notification
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierUnitOfWork
from shared.clock import ManualClock
from shared.contracts import Message, NotificationSent, OrderCancelled
from shared.database import open_database
from shared.envelope import Envelope, wrap
from shared.errors import Unavailable
from shared.runtime_tables import RuntimeTables
from shared.service import Service
from tests.factories import order_placed
from tests.notifier_support import (
    MailServer,
    every_event,
    free_port,
    mail_server,
    replacement_of,
)

ADA = "ada@example.com"


@pytest.fixture
def server() -> Iterator[MailServer]:
    with mail_server() as running:
        yield running


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    metadata = bootstrap().metadata
    RuntimeTables(metadata)
    return open_database(f"sqlite:///{tmp_path}/notifier.db", metadata)


def smtp(server: MailServer | int, **settings: object) -> NotifierSettings:
    port = server if isinstance(server, int) else server.port
    return NotifierSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=5,
        **settings,  # type: ignore[arg-type]
    )


class Notifier:
    """The notifier's service on a real database: handle events in one transaction, as the
    runtime does, and run its after-commit courier with the runtime's outbox as ``announce``."""

    def __init__(self, service: Service, sessions: sessionmaker[Session], clock: ManualClock):
        self.service, self.sessions, self.clock = service, sessions, clock
        self.tables = RuntimeTables(service.metadata)

    def handle(self, *events: Message) -> None:
        with self.sessions() as session, session.begin():
            uow = NotifierUnitOfWork(session)
            uow.preload(events)
            for event in events:
                assert list(self.service.handlers[type(event)](event, uow)) == []

    def courier(self) -> int:
        assert self.service.after_commit is not None
        return self.service.after_commit(self.sessions, self.announce)

    def announce(self, session: Session, messages: list[Message], traces: Any = ()) -> None:
        """The runtime's: into the outbox, in the courier's transaction, which marked them sent."""
        assert session.in_transaction()
        for message in messages:
            assert isinstance(message, NotificationSent)
            notification = session.get(Notification, message.notification_id)
            assert notification is not None and notification.status == "sent"
        now = self.clock.now()
        self.tables.outbox.add(session, [wrap(m, source="notifier", now=now) for m in messages])

    def announced(self, order_id: str = "ord-1") -> list[NotificationSent]:
        with self.sessions() as session:
            rows: list[Envelope] = self.tables.outbox.about(session, order_id)
        return [NotificationSent.model_validate(row.data) for row in rows]

    def notifications(self, order_id: str = "ord-1") -> list[Notification]:
        with self.sessions() as session:
            return NotifierUnitOfWork(session).notifications.for_order(order_id)


@pytest.fixture
def notifier_for(
    sessions: sessionmaker[Session], clock: ManualClock
) -> Callable[[NotifierSettings], Notifier]:
    return lambda settings: Notifier(bootstrap(clock, settings), sessions, clock)


NotifierFor = Callable[[NotifierSettings], Notifier]


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """What orderflow logged, each line's fields included (the test's SMTP server logs every
    address it sees)."""
    return "\n".join(
        f"{r.getMessage()} {vars(r)}" for r in caplog.records if r.name.startswith("orderflow")
    )


# -- sent once, after the commit ------------------------------------------------------------


def test_a_pending_notification_is_sent_after_the_commit_marked_sent_and_announced(
    server: MailServer, notifier_for: NotifierFor, clock: ManualClock
) -> None:
    notifier = notifier_for(smtp(server))
    notifier.handle(order_placed(language="ru"))
    assert server.received == []

    assert notifier.courier() == 1

    [message] = server.received
    [notification] = notifier.notifications()
    assert message["Subject"] == "Мы получили ваш заказ WEB-1001"
    assert (message["To"], message["From"]) == (ADA, "orderflow <orders@orderflow.example>")
    assert message["Message-ID"] == f"<{notification.id}@orderflow>"
    assert message["Content-Language"] == "ru"
    assert "Здравствуйте, Ada Lovelace!" in message.get_content()
    assert (notification.status, notification.sent_at) == ("sent", clock.now())
    assert notifier.announced() == [
        NotificationSent(
            order_id="ord-1", notification_id=notification.id, about="order.placed", language="ru"
        )
    ]


def test_a_second_pass_sends_nothing_again(server: MailServer, notifier_for: NotifierFor) -> None:
    notifier = notifier_for(smtp(server))
    notifier.handle(order_placed())
    notifier.courier()

    assert notifier.courier() == 0
    assert len(server.received) == 1 and len(notifier.announced()) == 1


def test_a_redelivered_event_sends_nothing_more(
    server: MailServer, notifier_for: NotifierFor
) -> None:
    notifier = notifier_for(smtp(server))
    cancelled = OrderCancelled(order_id="ord-1", reason="out_of_stock")
    notifier.handle(order_placed(), cancelled)
    notifier.courier()

    notifier.handle(order_placed(), cancelled)
    notifier.handle(cancelled)

    assert notifier.courier() == 0
    assert server.subjects() == [
        "We have received your order WEB-1001",
        "Your order WEB-1001 has been cancelled",
    ]


def test_every_event_of_an_order_arrives_once_in_the_order_of_its_life(
    server: MailServer, notifier_for: NotifierFor
) -> None:
    notifier = notifier_for(smtp(server))
    events = every_event()
    early = [e for about, e in events.items() if about not in ("order.placed", "order.rejected")]
    notifier.handle(*reversed(early))

    notifier.handle(events["order.placed"])
    notifier.courier()

    assert notifier.courier() == 0
    replacement = replacement_of("ord-1")
    abouts = [n.about for n in notifier.notifications() + notifier.notifications(replacement)]
    assert len(server.received) == len(early) + 1 == len(notifier.announced())
    assert server.subjects()[0] == "We have received your order WEB-1001"
    assert server.subjects()[-2:] == [
        "Your order WEB-1001 has been cancelled",
        "We have refunded 29,95\xa0€ for your order WEB-1001",
    ]
    assert set(abouts) == set(events) - {"order.rejected"}


def test_a_pass_sends_at_most_a_batch(server: MailServer, notifier_for: NotifierFor) -> None:
    notifier = notifier_for(smtp(server, send_batch_size=2))
    notifier.handle(
        order_placed("ord-1"),
        order_placed("ord-2", external_id="WEB-2"),
        order_placed("ord-3", external_id="WEB-3"),
    )

    assert [notifier.courier(), notifier.courier(), notifier.courier()] == [2, 1, 0]
    assert len(server.received) == 3


def test_the_courier_logs_in_when_a_username_is_set(notifier_for: NotifierFor) -> None:
    with mail_server(login=True) as server:
        notifier = notifier_for(smtp(server, smtp_username="orderflow", smtp_password="s3cret"))
        notifier.handle(order_placed())

        assert notifier.courier() == 1

    assert server.logins == ["orderflow"] and len(server.received) == 1


def test_a_login_the_server_refuses_leaves_everything_pending(
    notifier_for: NotifierFor, caplog: pytest.LogCaptureFixture
) -> None:
    with mail_server(login=True) as server:
        settings = smtp(server, smtp_username="orderflow", smtp_password="wrong")
        notifier = notifier_for(settings.model_copy(update={"smtp_timeout_seconds": 1}))
        notifier.handle(order_placed())

        with pytest.raises(Unavailable, match="did not let us in") as trouble:
            notifier.courier()

    assert server.received == [] and [n.status for n in notifier.notifications()] == ["pending"]
    assert "wrong" not in str(trouble.value) + logged(caplog)


def test_starttls_that_the_server_does_not_offer_sends_nothing_in_the_clear(
    server: MailServer, notifier_for: NotifierFor
) -> None:
    notifier = notifier_for(smtp(server, smtp_starttls=True))
    notifier.handle(order_placed())

    with pytest.raises(Unavailable, match="did not let us in"):
        notifier.courier()
    assert server.received == [] and [n.status for n in notifier.notifications()] == ["pending"]


# -- refusals and trouble -------------------------------------------------------------------


def test_a_recipient_the_server_refuses_for_good_is_recorded_as_failed_with_the_reason(
    server: MailServer, notifier_for: NotifierFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.refused.add("nobody@example.com")
    notifier = notifier_for(smtp(server))
    notifier.handle(
        order_placed("ord-1", email="nobody@example.com"),
        order_placed("ord-2", external_id="WEB-2"),
    )

    assert notifier.courier() == 2

    [failed] = notifier.notifications("ord-1")
    assert failed.status == "failed"
    assert failed.reason == "550 5.1.1 <nobody@example.com>: mailbox unavailable"
    assert notifier.announced("ord-1") == [] and len(notifier.announced("ord-2")) == 1
    assert [str(m["To"]) for m in server.received] == [ADA]
    assert notifier.courier() == 0
    assert "nobody@example.com" not in logged(caplog) and failed.id in logged(caplog)


def test_a_recipient_the_server_defers_stays_pending_for_the_next_pass(
    server: MailServer, notifier_for: NotifierFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.deferred.add(ADA)
    notifier = notifier_for(smtp(server))
    notifier.handle(order_placed())

    assert [notifier.courier(), notifier.courier()] == [0, 0], "the server itself takes mail"
    assert [n.status for n in notifier.notifications()] == ["pending"]
    [deferred] = [r for r in caplog.records if r.name.startswith("orderflow")]
    assert (deferred.getMessage(), getattr(deferred, "error", None)) == (
        "e-mail deferred",
        "the mail server deferred the recipient (451)",
    )
    assert ADA not in logged(caplog), "said once, without the address"

    server.deferred.clear()
    assert notifier.courier() == 1
    assert len(server.received) == 1 and len(notifier.announced()) == 1


def test_a_server_that_is_not_taking_mail_ends_the_pass_unavailable(
    server: MailServer, notifier_for: NotifierFor
) -> None:
    """421 is the server's own trouble, not one recipient's: the worker is to be unready."""
    server.closing = True
    notifier = notifier_for(smtp(server))
    notifier.handle(order_placed())

    with pytest.raises(Unavailable, match=r"the mail server is not taking mail \(421\)"):
        notifier.courier()
    assert [n.status for n in notifier.notifications()] == ["pending"]

    server.closing = False
    assert notifier.courier() == 1


def test_a_transient_failure_keeps_what_was_sent_before_it_in_the_same_pass(
    server: MailServer, notifier_for: NotifierFor
) -> None:
    server.deferred.add("later@example.com")
    notifier = notifier_for(smtp(server))
    notifier.handle(
        order_placed("ord-1"),
        order_placed("ord-2", email="later@example.com", external_id="WEB-2"),
        order_placed("ord-3", external_id="WEB-3"),
    )

    assert notifier.courier() == 1

    statuses = [notifier.notifications(o)[0].status for o in ("ord-1", "ord-2", "ord-3")]
    assert statuses == ["sent", "pending", "pending"]
    assert len(notifier.announced("ord-1")) == 1


def test_an_unreachable_server_leaves_everything_pending_until_it_is_back(
    notifier_for: NotifierFor, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    notifier = notifier_for(smtp(port))
    notifier.handle(order_placed())

    with pytest.raises(Unavailable, match="the mail server is unreachable") as trouble:
        notifier.courier()
    assert [n.status for n in notifier.notifications()] == ["pending"]
    assert ADA not in str(trouble.value) + logged(caplog)

    with mail_server(port) as server:
        assert notifier.courier() == 1
    assert server.subjects() == ["We have received your order WEB-1001"]


# -- without an SMTP server: the maildir ----------------------------------------------------


def test_without_an_smtp_host_mail_goes_into_a_maildir(
    notifier_for: NotifierFor, tmp_path: Path
) -> None:
    maildir = tmp_path / "not-yet" / "mail"
    notifier = notifier_for(NotifierSettings(maildir=maildir))
    notifier.handle(
        order_placed(language="zh"), order_placed("ord-2", language="uk", external_id="WEB-2")
    )

    assert notifier.courier() == 2

    box = mailbox.Maildir(maildir, create=False)
    messages = [
        message_from_bytes(box.get_bytes(key), policy=policy.default) for key in box.iterkeys()
    ]
    assert all(isinstance(m, EmailMessage) for m in messages)
    assert sorted(str(m["Subject"]) for m in messages) == [
        "Ми отримали ваше замовлення WEB-2",
        "我们已收到您的订单 WEB-1001",
    ]
    assert len(list((maildir / "new").iterdir())) == 2
    assert notifier.courier() == 0 and len(box) == 2
    assert len(notifier.announced("ord-1")) == len(notifier.announced("ord-2")) == 1


def test_the_default_maildir_is_beside_the_embedded_databases() -> None:
    settings = NotifierSettings()
    assert (settings.smtp_host, settings.maildir) == (None, Path(".orderflow/mail"))
