"""The courier: sends what the handlers rendered, once their transaction has committed.

It is the notifier's ``Service.after_commit``. Each pass locks a batch of pending notifications
(skipping those another replica's courier holds), sends them over one connection, and in the same
transaction marks each ``sent`` (with ``sent_at``) and announces its ``notification.sent``, or
marks it ``failed`` with the server's answer when the recipient is refused for good. A transient
failure (server down, 4xx) ends the pass: what was sent before it is recorded, the rest stays
pending for the next pass.

Sending once: a notification is sent only while pending, and marked sent in the transaction that
locked it. Only a crash between the server's "250 OK" and the commit can send it again, and then
with the same Message-ID, which mail systems use to drop the repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy.orm import Session, sessionmaker

from shared.clock import Clock
from shared.contracts import Message
from shared.errors import TransientError
from shared.handlers import Announce

from .model import Notification
from .store import NotificationStore
from .transports import Postbox, Refused, Transport

log = logging.getLogger("orderflow.notifier")


@dataclass(frozen=True)
class Courier:
    transport: Transport
    sender: str
    clock: Clock
    batch_size: int = 50

    def __call__(self, sessions: sessionmaker[Session], announce: Announce) -> int:
        """One pass: returns how many notifications it settled (sent, or failed for good)."""
        with sessions() as session, session.begin():
            pending = NotificationStore(session).claim_pending(self.batch_size)
            if not pending:
                return 0
            settled, told = self._deliver(pending)
            announce(session, told)
        return settled

    def _deliver(self, pending: Sequence[Notification]) -> tuple[int, list[Message]]:
        settled, told = 0, []
        try:
            with self.transport.open() as postbox:
                for notification in pending:
                    sent = self._send(notification, postbox)
                    if sent is not None:
                        told.append(sent)
                    settled += 1
        except TransientError as trouble:
            log.warning("notifier: %s; %d e-mails wait", trouble, len(pending) - settled)
        return settled, told

    def _send(self, notification: Notification, postbox: Postbox) -> Message | None:
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


def compose(notification: Notification, sender: str, now: datetime) -> EmailMessage:
    """The e-mail: plain text, UTF-8, and a Message-ID fixed by the notification's id."""
    if not notification.email or notification.subject is None or notification.body is None:
        raise ValueError("a pending notification without its address or text")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.email
    message["Subject"] = notification.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = notification.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(notification.body)
    message["Content-Language"] = notification.language or "en"  # set_content drops Content-*
    return message
