"""Payment's settings, read once at start-up from ``ORDERFLOW_PAYMENT_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PaymentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_PAYMENT_", extra="ignore")

    gateway_transient_failures: int = Field(
        default=2,
        ge=0,
        description="timeouts the simulated gateway answers a tok_transient key with, first",
    )
