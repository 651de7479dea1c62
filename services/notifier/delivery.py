"""The courier: sends what the handlers rendered, once their transaction has committed.

It is the notifier's ``Service.after_commit``. Each pass claims, sends, and marks:

1. **claim** a batch of pending notifications in a short transaction of its own: each becomes
   ``sending``, held by this courier until its lease runs out (``send_lease``). Another replica's
   courier skips them, so two never send the same one; if this courier dies, another (or its
   own restart) takes them over once the lease has run out;
2. **send** one over the pass's SMTP connection;
3. **mark** it ``sent`` (with ``notification.sent`` in the outbox) or ``failed`` (the server
   refused it for good, with its answer) in a transaction of its own, then send the next.

So at most one e-mail is ever sent and not yet recorded: a crash between the server's "250 OK"
and the mark's commit sends that one again, with the same Message-ID, which mail systems use to
drop the repeat. If the mark cannot be committed (the database is gone), the courier keeps what
it sent in memory and records it first when the database answers, before it claims or sends
anything else: a database outage sends nothing twice.

A transient failure (the server down, busy or answering 4xx) ends the pass and gives back what
it did not send. A send starts only while the lease has more than ``longest_send`` left, so the
claim still holds when the server's answer comes. Each courier reads leases by its own clock:
replicas' clocks must agree to well within a lease (NTP keeps them to milliseconds).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.errors import MessageError
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.clock import Clock
from shared.crash import CrashPoint
from shared.errors import TransientError
from shared.handlers import Announce, Reach

from .model import Notification, sent_announcement
from .store import CourierStore, claimed_by, record_outcome
from .transports import Postbox, Refused, Transport

log = logging.getLogger("orderflow.notifier")


def courier_name() -> str:
    """Who claims: this host and process, and a random part for a restart under the same pid."""
    return f"{socket.gethostname()[:60]}/{os.getpid()}/{secrets.token_hex(4)}"


def _no_crash(_: CrashPoint) -> None:
    return None


class Courier:
    def __init__(
        self,
        transport: Transport,
        sender: str,
        clock: Clock,
        batch_size: int = 50,
        send_lease: timedelta = timedelta(seconds=60),
        longest_send: timedelta = timedelta(seconds=40),
        name: str | None = None,
    ) -> None:
        if longest_send >= send_lease:
            raise ValueError("send_lease: must be longer than the longest send")
        self.transport, self.sender, self.clock = transport, sender, clock
        self.batch_size, self.send_lease, self.longest_send = batch_size, send_lease, longest_send
        self.name = name or courier_name()
        self._unmarked: list[Notification] = []
        self._announce_due = True  # a courier before it may have died between send and announce

    @property
    def unmarked(self) -> list[str]:
        """The ids of what it sent and could not record yet."""
        return [notification.id for notification in self._unmarked]

    def __call__(
        self,
        sessions: sessionmaker[Session],
        announce: Announce,
        reach: Reach = _no_crash,
    ) -> int:
        """One pass: returns how many notifications it settled (sent, or failed for good).

        A database error ends the pass and goes to the caller; what was sent is kept to be
        recorded first on the next pass."""
        with sessions() as session, _autocommitting(session) as marks:
            settled = self._mark_unmarked(marks)
            claimed = self._claim(session)
            if claimed:
                settled += self._deliver(session, marks, claimed, reach)
            if self._announce_due:
                self._announce_sent(session, announce)
        return settled

    def _mark_unmarked(self, marks: Connection) -> int:
        marked = 0
        while self._unmarked:
            marked += self._record(marks, self._unmarked[0])
            self._unmarked.pop(0)
        return marked

    def _claim(self, session: Session) -> list[Notification]:
        now = self.clock.now()
        with session.begin():
            return CourierStore(session).claim(
                self.name, now, now + self.send_lease, self.batch_size
            )

    def _deliver(
        self,
        session: Session,
        marks: Connection,
        claimed: Sequence[Notification],
        reach: Reach,
    ) -> int:
        settled = 0
        assert claimed[0].claimed_until is not None
        last_start = claimed[0].claimed_until - self.longest_send
        try:
            with self.transport.open() as postbox:
                for notification in claimed:
                    if self.clock.now() >= last_start:
                        waiting = len(claimed) - settled
                        log.warning("notifier: the claim runs out; %d e-mails wait", waiting)
                        break
                    self._send(notification, postbox, reach)
                    self._record(marks, notification)
                    self._unmarked.clear()
                    settled += 1
        except TransientError as trouble:
            log.warning("notifier: %s; %d e-mails wait", trouble, len(claimed) - settled)
        if settled < len(claimed):
            with session.begin():
                CourierStore(session).release(claimed[settled:], self.name)
        return settled

    def _send(self, notification: Notification, postbox: Postbox, reach: Reach) -> None:
        """Send it; its outcome is set on it (in memory) and, if it went, it is kept as unmarked
        until recorded. Raises ``TransientError`` if it may go later."""
        now = self.clock.now()
        try:
            postbox.send(compose(notification, self.sender, now))
        except Refused as refusal:
            notification.mark_failed(refusal.reason)
        except (MessageError, ValueError) as error:
            notification.mark_failed(f"the message could not be composed: {type(error).__name__}")
        else:
            notification.mark_sent(now)
            self._unmarked.append(notification)
            reach("after_send")
            return
        log.warning("notifier: %s (%s) failed for good", notification.id, notification.about)

    def _record(self, marks: Connection, notification: Notification) -> bool:
        """Record its outcome, committed by the time this returns, if this courier still holds
        it. If the database fails, the e-mail stays unmarked: recorded first on the next pass."""
        try:
            recorded = record_outcome(marks, notification, self.name)
        except Exception as error:
            if self._unmarked:
                log.warning(
                    "notifier: %s went; recorded when the database answers (%r)",
                    notification.id,
                    error,
                )
            raise
        self._announce_due = self._announce_due or notification.sent_at is not None
        if not recorded:
            holder = claimed_by(marks, notification.id)
            if holder not in (self.name, None):
                log.warning(
                    "notifier: %s was taken over by %s before its outcome was recorded",
                    notification.id,
                    holder,
                )
        return recorded

    def _announce_sent(self, session: Session, announce: Announce) -> None:
        """Announce ``notification.sent`` for every sent notification not announced yet (this
        pass's, and any a crash or an outage left), in one transaction."""
        with session.begin():
            sent = CourierStore(session).take_unannounced(ANNOUNCED_PER_PASS)
            if sent:
                announce(
                    session,
                    [sent_announcement(n.id, n.order_id, n.about, n.language) for n in sent],
                )
        self._announce_due = len(sent) == ANNOUNCED_PER_PASS


ANNOUNCED_PER_PASS = 500


@contextmanager
def _autocommitting(session: Session) -> Iterator[Connection]:
    """A connection of the session's database whose every statement commits on its own: each
    e-mail's outcome is one statement, so recording it is one round trip and one commit."""
    engine = session.get_bind()
    assert isinstance(engine, Engine), "the notifier's sessions are bound to its engine"
    with engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


def compose(notification: Notification, sender: str, now: datetime) -> Message:
    """The e-mail: plain text, UTF-8, and a Message-ID fixed by the notification's id.

    Built with the email package's compat32 API, which writes headers as given: the modern API
    parses each header set, which cost more than everything else the courier does per e-mail.
    An address outside ASCII takes the modern API, which knows SMTPUTF8."""
    address, subject, body = notification.email, notification.subject, notification.body
    if not address or subject is None or body is None:
        raise ValueError("a pending notification without its address or text")
    if any("\r" in text or "\n" in text for text in (address, subject, sender)):
        raise ValueError("a header with a line break")
    if not (address.isascii() and sender.isascii()):
        return _compose_international(notification, sender, now)
    plain = body.isascii() and all(len(line) <= 998 for line in body.splitlines())
    message = MIMEText(body, "plain", "us-ascii" if plain else "utf-8", policy=AS_WRITTEN)
    message["From"] = sender
    message["To"] = address
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")  # type: ignore[assignment]
    message["Date"] = format_datetime(now)
    message["Message-ID"] = notification.message_id
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = notification.language or "en"
    return message


class _AsWritten(Compat32):
    """compat32, writing a short one-line ASCII header as it is: the general folding it does
    otherwise cost more than the rest of composing and sending an e-mail."""

    def fold(self, name: str, value: Any) -> str:
        if _fits(name, value, self.max_line_length):
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        if _fits(name, value, self.max_line_length):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


def _fits(name: str, value: Any, limit: int | None) -> bool:
    return (
        isinstance(value, str)
        and value.isascii()
        and len(name) + 2 + len(value) <= (limit or 78)
        and "\n" not in value
        and "\r" not in value
    )


AS_WRITTEN = _AsWritten()


def _compose_international(notification: Notification, sender: str, now: datetime) -> Message:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.email
    message["Subject"] = notification.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = notification.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(notification.body or "")
    message["Content-Language"] = notification.language or "en"  # set_content drops Content-*
    return message
