"""Notifier's settings, read once at bootstrap (prefix ``ORDERFLOW_NOTIFIER_``)."""

from __future__ import annotations

from datetime import timedelta
from email.utils import formataddr
from pathlib import Path

from pydantic import EmailStr, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_NOTIFIER_", extra="ignore")

    templates_dir: Path | None = Field(
        default=None,
        description="<language>/<message type>.txt.j2 files; None uses the bundled templates",
    )
    smtp_host: str | None = Field(
        default=None, description="the mail server; None delivers into the maildir instead"
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="the mail server's port")
    smtp_starttls: bool = Field(default=False, description="upgrade the connection with STARTTLS")
    smtp_username: str | None = Field(default=None, description="log in when set")
    smtp_password: SecretStr | None = Field(
        default=None, description="the password for smtp_username"
    )
    smtp_timeout_seconds: float = Field(
        default=10.0, gt=0, description="how long to wait for the mail server to answer"
    )
    sender_address: EmailStr = Field(
        default="orders@orderflow.example", description="the From address"
    )
    sender_name: str = Field(default="orderflow", description="the From name")
    maildir: Path = Field(
        default=Path(".orderflow/mail"), description="where e-mail goes without an SMTP host"
    )
    send_batch_size: int = Field(
        default=50,
        ge=1,
        description="e-mails a courier pass claims; each is recorded as sent before the next "
        "of its lane goes",
    )
    send_lanes: int = Field(
        default=4,
        ge=1,
        le=32,
        description="e-mails sent side by side, each lane over its own connections to the mail "
        "server and the database (one on SQLite); a crash may send each lane's e-mail in flight "
        "again",
    )
    send_lease_seconds: float = Field(
        default=60,
        gt=0,
        description="how long a courier's claim on e-mails holds: a crashed courier's unsent "
        "e-mails go out after it, from another replica or its restart; must exceed four times "
        "smtp_timeout_seconds",
    )

    @field_validator("smtp_host")
    @classmethod
    def _a_bare_host(cls, host: str | None) -> str | None:
        """A host name or address alone: a URL or a ``host:port`` here would be looked up as a
        name and never answer (the port is ``smtp_port``)."""
        if host is None:
            return None
        if not host.strip() or "/" in host or any(c.isspace() for c in host):
            raise ValueError("a host name or address, e.g. mailpit or 10.0.0.5, not a URL")
        if host.count(":") == 1:
            raise ValueError("a host name alone: put the port in smtp_port")
        return host

    @model_validator(mode="after")
    def _password_needs_a_user(self) -> NotifierSettings:
        if self.smtp_password is not None and self.smtp_username is None:
            raise ValueError("smtp_password: set without smtp_username, so it would never be used")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> NotifierSettings:
        if self.send_lease_seconds <= self.longest_send.total_seconds():
            raise ValueError(
                f"send_lease_seconds: {self.send_lease_seconds:g} must exceed four times "
                f"smtp_timeout_seconds ({self.longest_send.total_seconds():g})"
            )
        return self

    @property
    def sender(self) -> str:
        return formataddr((self.sender_name, self.sender_address))

    @property
    def send_lease(self) -> timedelta:
        return timedelta(seconds=self.send_lease_seconds)

    @property
    def longest_send(self) -> timedelta:
        """How long one send may take and still succeed: four exchanges with the server (MAIL,
        RCPT, DATA, the message), each answered within the timeout. A send starts only while
        the claim has that long left."""
        return timedelta(seconds=4 * self.smtp_timeout_seconds)
