"""Reporting's settings, read once at start-up from ``ORDERFLOW_REPORTING_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReportingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_REPORTING_", extra="ignore")

    history_max_age: str = Field(
        default="400D",
        pattern=r"^[1-9][0-9]*[YMDhms]$",
        description="how long the event history (a RabbitMQ stream every event goes to) keeps "
        "an event, e.g. 400D, 18M, 2Y: `orderflow report rebuild` replays only what it still "
        "holds",
    )
