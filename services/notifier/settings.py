"""Notifier's settings, read once at bootstrap (prefix ``ORDERFLOW_NOTIFIER_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_NOTIFIER_", extra="ignore")

    templates_dir: Path | None = Field(
        default=None,
        description="<language>/<message type>.txt.j2 files; None uses the bundled templates",
    )
