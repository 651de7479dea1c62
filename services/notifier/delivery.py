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
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.errors import MessageError
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from shared.clock import Clock
from shared.contracts import NotificationSent
from shared.crash import CrashPoint
from shared.errors import TransientError
from shared.handlers import Announce, Reach

from .model import Notification
from .store import CourierStore
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
        self._unmarked: list[tuple[Notification, NotificationSent]] = []

    @property
    def unmarked(self) -> list[str]:
        """The ids of what it sent and could not record yet."""
        return [notification.id for notification, _ in self._unmarked]

    def __call__(
        self,
        sessions: sessionmaker[Session],
        announce: Announce,
        reach: Reach = _no_crash,
    ) -> int:
        """One pass: returns how many notifications it settled (sent, or failed for good).

        A database error ends the pass and goes to the caller; what was sent is kept to be
        recorded first on the next pass."""
        with sessions() as session:
            settled = self._mark_unmarked(session, announce)
            claimed = self._claim(session)
            if claimed:
                settled += self._deliver(session, claimed, announce, reach)
        return settled

    def _mark_unmarked(self, session: Session, announce: Announce) -> int:
        marked = 0
        while self._unmarked:
            notification, sent = self._unmarked[0]
            with session.begin():
                recorded = self._record(session, notification, announce, sent)
            self._unmarked.pop(0)
            marked += recorded
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
        claimed: Sequence[Notification],
        announce: Announce,
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
                    sent = self._send(notification, postbox)
                    if sent is not None:
                        self._unmarked.append((notification, sent))
                        reach("after_send")
                    self._record_sent(session, notification, announce, sent)
                    settled += 1
        except TransientError as trouble:
            log.warning("notifier: %s; %d e-mails wait", trouble, len(claimed) - settled)
        if settled < len(claimed):
            with session.begin():
                CourierStore(session).release(claimed[settled:], self.name)
        return settled

    def _record_sent(
        self,
        session: Session,
        notification: Notification,
        announce: Announce,
        sent: NotificationSent | None,
    ) -> None:
        try:
            with session.begin():
                self._record(session, notification, announce, sent)
        except Exception as error:
            if sent is not None:
                log.warning(
                    "notifier: %s went; recorded when the database answers (%r)",
                    notification.id,
                    error,
                )
            raise
        if sent is not None:
            self._unmarked.pop()

    def _send(self, notification: Notification, postbox: Postbox) -> NotificationSent | None:
        """Send it; its outcome is set on it (in memory). Returns its announcement if it was
        sent, None if it failed for good; raises ``TransientError`` if it may go later."""
        now = self.clock.now()
        try:
            postbox.send(compose(notification, self.sender, now))
        except Refused as refusal:
            notification.mark_failed(refusal.reason)
        except (MessageError, ValueError) as error:
            notification.mark_failed(f"the message could not be composed: {type(error).__name__}")
        else:
            return notification.mark_sent(now)
        log.warning("notifier: %s (%s) failed for good", notification.id, notification.about)
        return None

    def _record(
        self,
        session: Session,
        notification: Notification,
        announce: Announce,
        sent: NotificationSent | None,
    ) -> bool:
        """Record its outcome (and announce it, if sent), if this courier still holds it."""
        store = CourierStore(session)
        if store.settle(notification, self.name):
            if sent is not None:
                announce(session, [sent])
            return True
        status, holder = store.holder(notification.id) or ("gone", None)
        if (status, holder) != (notification.status, self.name):
            log.warning(
                "notifier: %s was taken over (%s by %s) before its outcome was recorded",
                notification.id,
                status,
                holder,
            )
        return False


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
