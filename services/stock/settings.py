"""Stock's settings, read once at start-up from ``ORDERFLOW_STOCK_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StockSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_STOCK_", extra="ignore")

    backorder_grace_days: int = Field(
        default=14,
        ge=0,
        le=365,
        description="days a waiting order waits past the goods' expected date before it gives up",
    )
