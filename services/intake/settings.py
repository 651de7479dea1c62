"""Intake's business settings, read once at bootstrap (prefix ``ORDERFLOW_INTAKE_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts import Channel, DeliveryOption, PaymentMethod

EU_COUNTRIES = [
    *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
    *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
]


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_INTAKE_", extra="ignore")

    accepted_currencies: list[str] = Field(
        default_factory=lambda: ["EUR"],
        description="ISO 4217 codes of the currencies orders may be in",
    )
    served_countries: list[str] = Field(
        default_factory=lambda: [*EU_COUNTRIES, "GB", "US", "UA", "CN"],
        description="ISO 3166-1 alpha-2 codes we deliver to",
    )
    accepted_payment_methods: list[PaymentMethod] = Field(
        default_factory=lambda: [*PaymentMethod], description="the payment methods orders may use"
    )
    cash_on_delivery_max_total: int = Field(
        default=50_000,
        ge=0,
        description="a larger order (items and shipping) cannot pay cash on delivery",
        json_schema_extra={"format": "minor units of the order's currency"},
    )
    escrow_channels: list[Channel] = Field(
        default_factory=lambda: [Channel.MARKETPLACE],
        description="the channels whose orders may pay through escrow",
    )
    max_order_total: int = Field(
        default=1_000_000,
        ge=1,
        description="the largest order total (items and shipping) intake accepts",
        json_schema_extra={"format": "minor units of the order's currency"},
    )
    delivery_days: dict[DeliveryOption, int] = Field(
        default_factory=lambda: {
            DeliveryOption.STANDARD: 5,
            DeliveryOption.EXPRESS: 2,
            DeliveryOption.PICKUP_POINT: 4,
        },
        description="calendar days from placing to the expected delivery, per delivery option",
    )
    completion_window_seconds: float = Field(
        default=14 * 24 * 3600,
        ge=0,
        description="how long after delivery the order completes (or ends returned); an "
        "after-sales case still open then holds it until the case closes. Keep it no shorter "
        "than after-sales' return window",
    )
