"""After-sales' settings (prefix ``ORDERFLOW_AFTERSALES_``), read once, at bootstrap."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AftersalesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_AFTERSALES_", extra="ignore")

    return_window_days: int = Field(
        default=30, ge=0, description="how long after delivery an order may be returned"
    )

    @property
    def return_window(self) -> timedelta:
        return timedelta(days=self.return_window_days)
