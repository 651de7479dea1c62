"""An e-mail from a rendered notification: plain text, UTF-8 where needed, and a Message-ID fixed
by the notification's id, so every try of one notification is the same e-mail to a mail system."""

from __future__ import annotations

from datetime import datetime
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime
from typing import Any

from .model import Notification


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
