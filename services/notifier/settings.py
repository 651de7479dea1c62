"""Notifier's settings, read once at bootstrap (prefix ``ORDERFLOW_NOTIFIER_``)."""

from __future__ import annotations

from email.utils import formataddr
from pathlib import Path

from pydantic import Field, SecretStr
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
    sender_address: str = Field(default="orders@orderflow.example", description="the From address")
    sender_name: str = Field(default="orderflow", description="the From name")
    maildir: Path = Field(
        default=Path(".orderflow/mail"), description="where e-mail goes without an SMTP host"
    )
    send_batch_size: int = Field(default=50, ge=1, description="e-mails per courier pass")

    @property
    def sender(self) -> str:
        return formataddr((self.sender_name, self.sender_address))
