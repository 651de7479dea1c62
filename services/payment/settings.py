"""Payment's settings, read once at start-up from ``ORDERFLOW_PAYMENT_*``.

Durations are in seconds, so tests and the demo can shrink them:
``ORDERFLOW_PAYMENT_WINDOW_SECONDS=60``, ``ORDERFLOW_PAYMENT_REMINDER_OFFSETS_SECONDS='[20, 40]'``.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, PositiveFloat
from pydantic_settings import BaseSettings, SettingsConfigDict

DAY = 24 * 3600


class PaymentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_PAYMENT_", extra="ignore")

    gateway_transient_failures: int = Field(
        default=2,
        ge=0,
        description="timeouts the simulated gateway answers a tok_transient key with, first",
    )
    window_seconds: PositiveFloat = Field(
        default=7 * DAY, description="how long a bank transfer or escrow payment may take"
    )
    reminder_offsets_seconds: list[PositiveFloat] = Field(
        default_factory=lambda: [2.0 * DAY, 5.0 * DAY],
        description="when to remind an unpaid customer, from the start of the window; "
        "offsets at or past the window's end are never sent",
    )

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)

    @property
    def reminder_offsets(self) -> tuple[timedelta, ...]:
        return tuple(timedelta(seconds=s) for s in sorted(self.reminder_offsets_seconds))
