"""Intake's business settings, read once at bootstrap (prefix ``ORDERFLOW_INTAKE_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts import PaymentMethod

EU_COUNTRIES = [
    *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
    *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
]


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_INTAKE_", extra="ignore")

    accepted_currencies: list[str] = Field(default_factory=lambda: ["EUR"])
    served_countries: list[str] = Field(
        default_factory=lambda: [*EU_COUNTRIES, "GB", "US", "UA", "CN"],
        description="ISO 3166-1 alpha-2 codes we deliver to",
    )
    accepted_payment_methods: list[PaymentMethod] = Field(
        default_factory=lambda: [PaymentMethod.CARD, PaymentMethod.E_WALLET]
    )
    max_order_total: int = Field(
        default=1_000_000, ge=1, description="in minor units of the order's currency"
    )
    completion_window_seconds: float = Field(
        default=14 * 24 * 3600, ge=0, description="complaint window after delivery"
    )
