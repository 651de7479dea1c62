"""After-sales' settings (prefix ``ORDERFLOW_AFTERSALES_``), read once, at bootstrap."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .policy import ReturnPolicy

DAY = 24 * 3600


class AftersalesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_AFTERSALES_", extra="ignore")

    return_window_seconds: float = Field(
        default=14 * DAY,
        ge=0,
        description="how long after delivery an order may be returned, exchanged or complained "
        "about; keep it no longer than intake's completion window, which closes the order",
    )
    send_back_seconds: float = Field(
        default=14 * DAY, gt=0, description="how long the customer has to send the goods of an RMA"
    )
    damaged_refund_percent: int = Field(
        default=50, ge=0, le=100, description="what a unit inspected as damaged is refunded at"
    )

    @property
    def policy(self) -> ReturnPolicy:
        return ReturnPolicy(
            return_window=timedelta(seconds=self.return_window_seconds),
            send_back=timedelta(seconds=self.send_back_seconds),
            damaged_refund_percent=self.damaged_refund_percent,
        )
