"""Where e-mail goes: an SMTP server, or a Maildir folder when no server is configured.

A transport opens a postbox for one pass of the courier; ``send`` either delivers, raises
``Refused`` (the server will never take this message: a permanent 5xx answer to its recipient or
its content), ``Deferred`` (this recipient later: a 4xx to it alone, such as greylisting or a
full mailbox) or ``TransientError`` (nothing goes now: the server is down, busy, closing (421)
or answered 4xx to the message, or it refused our own sender or login, which no single message
can fix).

Nothing here logs, and no error raised here carries an address: a server's answer often echoes
the recipient, so it is only kept with the notification (``Refused.reason``), never logged.
"""

from __future__ import annotations

import mailbox
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.policy import SMTPUTF8
from pathlib import Path
from typing import NoReturn, Protocol

from shared.errors import TransientError


class Refused(Exception):
    """The mail server refused this message for good; ``reason`` is its answer."""

    def __init__(self, reason: str) -> None:
        super().__init__("the mail server refused the message")
        self.reason = reason


class Deferred(TransientError):
    """The mail server put off this message's recipient (a 4xx other than 421 to RCPT): the
    message waits, the server itself still takes mail."""


class Postbox(Protocol):
    def send(self, message: Message) -> None: ...


class Transport(Protocol):
    def open(self) -> AbstractContextManager[Postbox]: ...


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0

    @contextmanager
    def open(self) -> Iterator[Postbox]:
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as error:
            raise TransientError(f"the mail server is unreachable ({_named(error)})") from None
        try:
            self._start(client)
            yield SmtpPostbox(client)
        finally:
            _close(client)

    def _start(self, client: smtplib.SMTP) -> None:
        try:
            if self.starttls:
                client.starttls(context=ssl.create_default_context())
            if self.username is not None:
                client.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as error:
            raise TransientError(f"the mail server did not let us in ({_named(error)})") from None


@dataclass(frozen=True)
class SmtpPostbox:
    client: smtplib.SMTP

    def send(self, message: Message) -> None:
        try:
            self.client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            [(code, answer)] = error.recipients.values()
            if 400 <= code < 500 and code != 421:
                raise Deferred(f"the mail server deferred the recipient ({code})") from None
            _answered(code, answer)
        except smtplib.SMTPSenderRefused as error:
            refused = f"the mail server refused our sender ({error.smtp_code})"
            if error.smtp_code == 421:
                refused = "the mail server is not taking mail (421)"
            raise TransientError(refused) from None
        except smtplib.SMTPNotSupportedError:
            raise Refused("the mail server takes no internationalised address (SMTPUTF8)") from None
        except smtplib.SMTPResponseException as error:
            _answered(error.smtp_code, error.smtp_error)
        except (OSError, smtplib.SMTPException) as error:
            raise TransientError(f"sending failed ({_named(error)})") from None


def _answered(code: int, answer: bytes | str) -> NoReturn:
    text = answer.decode(errors="replace") if isinstance(answer, bytes) else answer
    if 500 <= code < 600:
        raise Refused(f"{code} {text}")
    raise TransientError(f"the mail server answered {code}")


def _named(error: BaseException) -> str:
    code = getattr(error, "smtp_code", None)
    return f"{type(error).__name__} {code}" if code else type(error).__name__


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


@dataclass(frozen=True)
class MaildirTransport:
    """Delivers into a Maildir folder (``new/``), which any mail client can open: the demo's
    and a developer's inbox, with no server to run."""

    path: Path

    @contextmanager
    def open(self) -> Iterator[Postbox]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            box = mailbox.Maildir(self.path, create=True)
        except OSError as error:
            raise TransientError(f"the maildir cannot be opened ({_named(error)})") from None
        yield MaildirPostbox(box)


@dataclass(frozen=True)
class MaildirPostbox:
    box: mailbox.Maildir

    def send(self, message: Message) -> None:
        """The message is written as its own policy flattens it (handed the message, mailbox
        would flatten it again with no header length limit, re-encoding every non-ASCII header
        word by word: 1 ms of CPU an e-mail, ten times the rest); an internationalised one as
        an SMTPUTF8 server gets it, its addresses in UTF-8."""
        if isinstance(message, EmailMessage):
            flat = message.as_bytes(policy=SMTPUTF8)
        else:
            flat = message.as_bytes()
        try:
            self.box.add(flat)
        except OSError as error:
            raise TransientError(f"the maildir cannot take the message ({_named(error)})") from None
