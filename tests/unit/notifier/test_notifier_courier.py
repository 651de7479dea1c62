"""The courier's promise, as a specification: claim, send, mark, one e-mail at a time.

Each e-mail is recorded as sent (``sent_at``, committed) before the next one goes, so a crash
repeats at most the one in flight (same Message-ID); a database outage repeats none; a claim is
held under a lease, which another courier takes over only once it has run out; the pass's
``notification.sent`` announcements follow, each once. On SQLite, with a fake mail server (a third
party) that records every Message-ID it accepts.
"""

from __future__ import annotations

import io
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.notifier.bootstrap import bootstrap
from services.notifier.composing import compose
from services.notifier.delivery import Courier
from services.notifier.model import Notification
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierUnitOfWork
from services.notifier.transports import Postbox, Refused
from shared.clock import ManualClock
from shared.contracts import Customer, NotificationSent, OrderPlaced
from shared.crash import CrashPoint
from shared.database import open_database
from shared.envelope import Envelope, wrap
from shared.errors import TransientError, Unavailable, is_transient
from shared.runtime_tables import RuntimeTables
from tests.factories import order_placed

LEASE = timedelta(seconds=60)
LONGEST_SEND = timedelta(seconds=20)


class Crash(BaseException):
    """The process dies here: nothing after it runs (a SIGKILL, in a unit test)."""


@dataclass
class FakeMailServer:
    """Records the Message-ID of every e-mail it accepts; defers or refuses addresses told;
    ``on_accept`` runs after each acceptance (to move the clock, stop the database...)."""

    accepted: list[str] = field(default_factory=list)
    deferred: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    on_accept: Callable[[str], object] = lambda _: None
    connections: int = 0

    @contextmanager
    def open(self) -> Iterator[Postbox]:
        self.connections += 1
        yield self

    def send(self, message: Message) -> None:
        to = str(message["To"])
        if to in self.deferred:
            raise TransientError("the mail server answered 451")
        if to in self.refused:
            raise Refused("550 mailbox unavailable")
        self.accepted.append(str(message["Message-ID"]))
        self.on_accept(str(message["Message-ID"]))

    def repeated(self) -> dict[str, int]:
        return {mid: n for mid, n in Counter(self.accepted).items() if n > 1}


class Database:
    """The notifier's SQLite database, which the test can take away and give back."""

    def __init__(self, path: Path) -> None:
        metadata = bootstrap().metadata
        self.tables = RuntimeTables(metadata)
        self.sessions: sessionmaker[Session] = open_database(f"sqlite:///{path}", metadata)
        self.down = False
        self.lose_next_commit_answer = False
        self.lose_next_mark_answer = False
        engine = self.sessions.kw["bind"]
        event.listen(engine, "before_cursor_execute", self._refuse_while_down)
        event.listen(engine, "after_cursor_execute", self._lose_mark_answer)
        event.listen(self.sessions, "after_commit", self._lose_answer)

    def _refuse_while_down(self, *_: Any) -> None:
        if self.down:
            raise sqlite3.OperationalError("unable to open database file")

    def _lose_mark_answer(self, _connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        """The mark commits on its own (autocommit): its answer is lost after it ran."""
        if self.lose_next_mark_answer and statement.startswith("UPDATE notifications SET sent_at"):
            self.lose_next_mark_answer = False
            raise sqlite3.OperationalError("disk I/O error")

    def _lose_answer(self, _session: Session) -> None:
        if self.lose_next_commit_answer:
            self.lose_next_commit_answer = False
            lost = sqlite3.OperationalError("unable to open database file")
            raise OperationalError("COMMIT", {}, lost)

    def statuses(self) -> dict[str, str]:
        with self.sessions() as session:
            return {n.message_id: n.status for n in session.scalars(select(Notification))}

    def recorded_sent(self) -> set[str]:
        """The Message-IDs of e-mails recorded as sent (announced or not yet)."""
        with self.sessions() as session:
            query = select(Notification).where(Notification.sent_at.is_not(None))
            return {n.message_id for n in session.scalars(query)}

    def notifications(self) -> list[Notification]:
        with self.sessions() as session:
            return list(session.scalars(select(Notification).order_by(Notification.queued_at)))

    def announced(self) -> Counter[str]:
        """How often each notification was announced sent, by its e-mail's Message-ID."""
        table = self.tables.outbox.table
        with self.sessions() as session:
            query = select(table.c.body).where(table.c.type == NotificationSent.type)
            envelopes = [Envelope.model_validate_json(body) for body in session.scalars(query)]
        return Counter(f"<{e.data['notification_id']}@orderflow>" for e in envelopes)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "notifier.db")


@pytest.fixture
def server() -> FakeMailServer:
    return FakeMailServer()


class RunningCourier:
    """A courier as the runtime runs it: its announcements go to the outbox in its transaction."""

    def __init__(
        self, db: Database, server: FakeMailServer, clock: ManualClock, name: str, batch: int
    ) -> None:
        self.db, self.clock = db, clock
        self.courier = Courier(
            server,
            "orderflow <orders@orderflow.example>",
            clock,
            batch,
            LEASE,
            LONGEST_SEND,
            name=name,
        )
        self.crash_at: CrashPoint | None = None
        self.dies_announcing = False

    def reach(self, point: CrashPoint) -> None:
        if point == self.crash_at:
            raise Crash(point)

    def announce(self, session: Session, messages: Any, traces: Any = ()) -> None:
        if self.dies_announcing:
            raise Crash("announcing")
        now = self.clock.now()
        self.db.tables.outbox.add(session, [wrap(m, source="notifier", now=now) for m in messages])

    def __call__(self) -> int:
        return self.courier(self.db.sessions, self.announce, self.reach)


@pytest.fixture
def courier_for(
    db: Database, server: FakeMailServer, clock: ManualClock
) -> Callable[..., RunningCourier]:
    def make(name: str = "courier-a", batch: int = 50) -> RunningCourier:
        return RunningCourier(db, server, clock, name, batch)

    return make


def pending(db: Database, clock: ManualClock, *emails: str) -> list[str]:
    """Orders placed, one per address: their confirmations wait for the courier, oldest first.
    Returns their Message-IDs in that order."""
    service = bootstrap(clock)
    handler = service.handlers[OrderPlaced]
    for number, email in enumerate(emails):
        customer = Customer(name="Ada Lovelace", email=email, language="en")  # type: ignore[arg-type]
        with db.sessions() as session, session.begin():
            handler(order_placed(f"ord-{number}", customer=customer), NotifierUnitOfWork(session))
        clock.advance(timedelta(milliseconds=1))
    return [n.message_id for n in db.notifications()]


def id_of(message_id: str) -> str:
    return message_id.removeprefix("<").removesuffix("@orderflow>")


def addresses(count: int) -> list[str]:
    return [f"customer{n}@example.com" for n in range(count)]


# -- claim, send, mark ----------------------------------------------------------------------


def test_each_email_is_recorded_as_sent_before_the_next_one_goes(
    db: Database, server: FakeMailServer, clock: ManualClock, courier_for: Any
) -> None:
    ids = pending(db, clock, *addresses(3))
    recorded_before: list[set[str]] = []
    server.on_accept = lambda _: recorded_before.append(db.recorded_sent())
    courier = courier_for()

    assert courier() == 3

    assert server.accepted == ids
    assert recorded_before == [set(), set(ids[:1]), set(ids[:2])]
    assert set(db.statuses().values()) == {"sent"}
    assert db.announced() == Counter(ids)
    assert server.connections == 1, "one connection for the whole pass"


def test_a_claim_holds_a_batch_under_the_couriers_name_until_its_lease_runs_out(
    db: Database, clock: ManualClock, courier_for: Any, server: FakeMailServer
) -> None:
    pending(db, clock, *addresses(3))
    claims: list[tuple[str, str | None, Any]] = []

    def look(_: str) -> None:
        if not claims:
            claims.extend((n.status, n.claimed_by, n.claimed_until) for n in db.notifications())

    server.on_accept = look
    courier_for("courier-a", batch=2)()

    until = clock.now() + LEASE
    assert claims == [
        ("sending", "courier-a", until),
        ("sending", "courier-a", until),
        ("pending", None, None),
    ]


def test_two_couriers_never_send_the_same_email(
    db: Database, server: FakeMailServer, clock: ManualClock, courier_for: Any
) -> None:
    ids = pending(db, clock, *addresses(5))
    other = courier_for("courier-b", batch=2)
    during: list[int] = []

    def the_other_runs_once(_: str) -> None:
        if not during:
            during.append(0)
            during[0] = other()

    server.on_accept = the_other_runs_once

    assert courier_for("courier-a", batch=3)() == 3

    assert during == [2]
    assert sorted(server.accepted) == sorted(ids) and server.repeated() == {}


# -- a crash --------------------------------------------------------------------------------


def test_a_crash_after_the_servers_ok_repeats_that_one_email_once_the_lease_has_run_out(
    db: Database, server: FakeMailServer, clock: ManualClock, courier_for: Any
) -> None:
    ids = pending(db, clock, *addresses(4))
    crashing = courier_for("courier-a")
    crashing.crash_at = "after_send"
    with pytest.raises(Crash):
        crashing()
    assert server.accepted == ids[:1]
    successor = courier_for("courier-b")

    assert successor() == 0, "the dead courier's claim still holds"
    clock.advance(LEASE + timedelta(seconds=1))
    assert successor() == 4

    assert server.repeated() == {ids[0]: 2}
    assert sorted(server.accepted) == sorted([*ids, ids[0]])
    assert db.announced() == Counter(ids)
    assert set(db.statuses().values()) == {"sent"}


def test_a_crash_after_the_marks_sends_nothing_again_and_the_next_courier_announces_at_once(
    db: Database, server: FakeMailServer, clock: ManualClock, courier_for: Any
) -> None:
    ids = pending(db, clock, *addresses(3))
    crashing = courier_for("courier-a")
    crashing.dies_announcing = True
    with pytest.raises(Crash):
        crashing()
    assert server.accepted == ids and db.recorded_sent() == set(ids)
    assert set(db.statuses().values()) == {"sending"} and db.announced() == Counter()

    assert courier_for("courier-b")() == 0, "nothing to send: no lease needs to run out"

    assert server.repeated() == {}
    assert set(db.statuses().values()) == {"sent"} and db.announced() == Counter(ids)


# -- the database goes away -----------------------------------------------------------------


def test_a_mark_the_database_cannot_take_is_made_first_when_it_answers_again(
    db: Database, server: FakeMailServer, clock: ManualClock, courier_for: Any
) -> None:
    ids = pending(db, clock, *addresses(3))
    courier = courier_for()

    def outage(message_id: str) -> None:
        if message_id == ids[1]:
            db.down = True

    server.on_accept = outage
    with pytest.raises(OperationalError) as raised:
        courier()
    assert is_transient(raised.value)
    assert server.accepted == ids[:2] and courier.courier.unmarked == [id_of(ids[1])]

    with pytest.raises(OperationalError):
        courier()  # still down: nothing claimed, nothing sent
    assert server.accepted == ids[:2]

    db.down = False
    assert courier() == 2

    assert server.accepted == ids and server.repeated() == {}
    assert db.announced() == Counter(ids)
    assert courier.courier.unmarked == []


def test_a_mark_whose_commit_answer_was_lost_is_not_announced_twice(
    db: Database, server: FakeMailServer, clock: ManualClock, courier_for: Any
) -> None:
    ids = pending(db, clock, *addresses(2))
    courier = courier_for()

    def lose_the_answer(message_id: str) -> None:
        db.lose_next_mark_answer = message_id == ids[0]

    server.on_accept = lose_the_answer
    with pytest.raises(OperationalError):
        courier()
    assert db.recorded_sent() == {ids[0]}, "the mark was committed; only its answer was lost"

    courier()

    assert server.accepted == ids and db.announced() == Counter(ids)
    assert courier.courier.unmarked == []


def test_a_claim_whose_commit_answer_was_lost_is_taken_back_by_its_courier_at_once(
    db: Database, server: FakeMailServer, clock: ManualClock, courier_for: Any
) -> None:
    ids = pending(db, clock, *addresses(2))
    courier = courier_for()
    db.lose_next_commit_answer = True
    with pytest.raises(OperationalError):
        courier()
    assert set(db.statuses().values()) == {"sending"} and server.accepted == []

    assert courier() == 2

    assert server.accepted == ids and db.announced() == Counter(ids)


# -- the mail server in trouble -------------------------------------------------------------


def test_a_transient_failure_ends_the_pass_and_gives_back_what_was_not_sent(
    db: Database, server: FakeMailServer, clock: ManualClock, courier_for: Any
) -> None:
    emails = addresses(3)
    ids = pending(db, clock, *emails)
    server.deferred.add(emails[1])

    with pytest.raises(Unavailable, match="e-mail cannot go out: the mail server answered 451"):
        courier_for("courier-a")()

    assert [(n.status, n.claimed_by) for n in db.notifications()] == [
        ("sent", None),
        ("pending", None),
        ("pending", None),
    ]
    server.deferred.clear()
    assert courier_for("courier-b")() == 2, "given back: another courier takes them at once"
    assert server.accepted == [ids[0], ids[1], ids[2]] and db.announced() == Counter(ids)


def test_a_refused_recipient_is_marked_failed_and_the_pass_goes_on(
    db: Database, server: FakeMailServer, clock: ManualClock, courier_for: Any
) -> None:
    emails = addresses(3)
    ids = pending(db, clock, *emails)
    server.refused.add(emails[0])

    assert courier_for()() == 3

    [failed, *sent] = db.notifications()
    assert (failed.status, failed.reason) == ("failed", "550 mailbox unavailable")
    assert [n.status for n in sent] == ["sent", "sent"]
    assert server.accepted == ids[1:] and db.announced() == Counter(ids[1:])


def test_no_send_starts_when_the_claim_could_run_out_before_its_answer(
    db: Database, server: FakeMailServer, clock: ManualClock, courier_for: Any
) -> None:
    ids = pending(db, clock, *addresses(3))
    server.on_accept = lambda _: clock.advance(LEASE - LONGEST_SEND)

    assert courier_for("courier-a")() == 1

    assert [(n.status, n.claimed_by) for n in db.notifications()] == [
        ("sent", None),
        ("pending", None),
        ("pending", None),
    ]
    assert server.accepted == ids[:1]


def test_the_lease_must_outlast_the_longest_send() -> None:
    with pytest.raises(ValueError, match="send_lease_seconds: 30 must exceed four times"):
        NotifierSettings(send_lease_seconds=30, smtp_timeout_seconds=10)


# -- the message ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body", "email"),
    [
        ("We have received your order WEB-1", "Hello Ada,\n\nthank you.\n", "ada@example.com"),
        ("Your order WEB-1 " + "is on its way " * 9, "A line " * 200 + "\n", "ada@example.com"),
        ("Мы получили ваш заказ WEB-1", "Здравствуйте, Ада!\n" * 40, "ada@example.com"),
        ("我们已收到您的订单 WEB-1 " + "很长的主题" * 20, "您好\n", "ada@example.com"),
        ("Ми отримали ваше замовлення", "Вітаємо!\n", "ада@приклад.укр"),
    ],
)
def test_the_email_reads_back_as_written(subject: str, body: str, email: str) -> None:
    clock = ManualClock()
    notification = Notification(id="ntf_1", email=email, subject=subject, body=body, language="uk")

    message = compose(notification, "orderflow <orders@orderflow.example>", clock.now())

    parsed = message_from_bytes(as_sent(message), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert str(parsed["Subject"]) == subject
    assert str(parsed["To"]) == email
    assert str(parsed["From"]) == "orderflow <orders@orderflow.example>"
    assert parsed["Message-ID"] == "<ntf_1@orderflow>"
    assert parsed["Content-Language"] == "uk"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Date"].datetime == clock.now()
    assert parsed.get_content().replace("\r\n", "\n") == body


def as_sent(message: Message) -> bytes:
    """The bytes smtplib puts on the wire (``SMTP.send_message``)."""
    international = not str(message["To"]).isascii()
    buffer = io.BytesIO()
    wire = message.policy.clone(utf8=True) if international else message.policy
    BytesGenerator(buffer, policy=wire).flatten(message, linesep="\r\n")
    return buffer.getvalue()


@pytest.mark.parametrize("field_name", ["subject", "email"])
def test_a_line_break_in_a_header_is_refused(field_name: str) -> None:
    fields = {"id": "ntf_1", "email": "ada@example.com", "subject": "Hello", "body": "Hi\n"}
    fields[field_name] += "\nBcc: everyone@example.com"
    with pytest.raises(ValueError, match="line break"):
        compose(Notification(**fields), "orderflow <o@orderflow.example>", ManualClock().now())
