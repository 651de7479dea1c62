"""Shipping's settings (prefix ``ORDERFLOW_SHIPPING_``), read once, at bootstrap."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ShippingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_SHIPPING_", extra="ignore")

    warehouse_country: str = Field(
        default="DE", pattern=r"^[A-Z]{2}$", description="where parcels leave: the domestic zone"
    )
    in_transit_after_seconds: float = Field(
        default=3600, ge=0, description="simulated carrier: the first scan, after booking"
    )
    delivered_after_seconds: float | None = Field(
        default=None,
        ge=0,
        description="simulated carrier: the delivery scan, after booking; unset, after the "
        "booked service's transit days (what the customer was promised)",
    )
    delivery_attempts: int = Field(
        default=3, ge=1, description="simulated carrier: tries at a refusing address, then returns"
    )
    delivery_retry_interval_seconds: float = Field(
        default=86400,
        gt=0,
        description="simulated carrier: between failed attempts, and from the last to the return",
    )

    @property
    def in_transit_after(self) -> timedelta:
        return timedelta(seconds=self.in_transit_after_seconds)

    @property
    def delivered_after(self) -> timedelta | None:
        if self.delivered_after_seconds is None:
            return None
        return timedelta(seconds=self.delivered_after_seconds)

    @property
    def delivery_retry_interval(self) -> timedelta:
        return timedelta(seconds=self.delivery_retry_interval_seconds)
