"""Intake's business settings, read once at bootstrap (prefix ``ORDERFLOW_INTAKE_``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts import Channel, DeliveryOption, PaymentMethod, ReviewDecision
from shared.currencies import ACCEPTED, known, to_minor

from .status import STUCK_AFTER_SECONDS, TERMINAL, OrderStatus

EU_COUNTRIES = [
    *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
    *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
]

# Round limits of about the same weight in each currency: a policy, not a conversion at a rate.
MAX_ORDER_TOTAL = {
    "EUR": 10_000, "USD": 10_000, "GBP": 9_000, "CHF": 10_000, "PLN": 45_000, "CZK": 250_000,
    "RUB": 1_000_000, "UAH": 450_000, "CNY": 80_000, "JPY": 1_600_000,
}  # fmt: skip
CASH_ON_DELIVERY_MAX_TOTAL = {
    "EUR": 500, "USD": 500, "GBP": 450, "CHF": 500, "PLN": 2_000, "CZK": 12_000,
    "RUB": 50_000, "UAH": 20_000, "CNY": 4_000, "JPY": 80_000,
}  # fmt: skip
PerCurrency = dict[str, Decimal]
PER_CURRENCY_FORMAT = "JSON object: ISO 4217 code to an amount in that currency's units"


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_INTAKE_", extra="ignore")

    accepted_currencies: list[str] = Field(
        default_factory=lambda: list(ACCEPTED),
        description="ISO 4217 codes of the currencies an order may be in; each needs its "
        "max_order_total and cash_on_delivery_max_total",
    )
    served_countries: list[str] = Field(
        default_factory=lambda: [*EU_COUNTRIES, "GB", "US", "UA", "RU", "CN", "JP"],
        description="ISO 3166-1 alpha-2 codes we deliver to",
    )
    accepted_payment_methods: list[PaymentMethod] = Field(
        default_factory=lambda: [*PaymentMethod], description="the payment methods orders may use"
    )
    cash_on_delivery_max_total: PerCurrency = Field(
        default_factory=lambda: {
            code: Decimal(v) for code, v in CASH_ON_DELIVERY_MAX_TOTAL.items()
        },
        description="per currency, an amount in its units (not minor units), e.g. "
        '{"EUR": "500", "JPY": "80000"}: a larger order cannot pay on delivery. Currencies '
        "not named keep their default",
        json_schema_extra={"format": PER_CURRENCY_FORMAT},
    )
    escrow_channels: list[Channel] = Field(
        default_factory=lambda: [Channel.MARKETPLACE],
        description="the channels whose orders may pay through escrow",
    )
    max_order_total: PerCurrency = Field(
        default_factory=lambda: {code: Decimal(v) for code, v in MAX_ORDER_TOTAL.items()},
        description="per currency, an amount in its units (not minor units), e.g. "
        '{"EUR": "10000", "RUB": "1000000"}: a larger order is rejected. Currencies not named '
        "keep their default",
        json_schema_extra={"format": PER_CURRENCY_FORMAT},
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

    review_amount_over: PerCurrency = Field(
        default_factory=dict,
        description="per currency, an amount in its units, e.g. "
        '{"EUR": "2000"}: an order whose total is more is held for review. A currency not '
        "named has no such rule (none by default)",
        json_schema_extra={"format": PER_CURRENCY_FORMAT},
    )
    review_units_of_one_sku: int | None = Field(
        default=None,
        ge=1,
        description="an order with more units than this of any one SKU is held for review; "
        "unset: no such rule",
    )
    review_cash_on_delivery_over: PerCurrency = Field(
        default_factory=dict,
        description="per currency, an amount in its units, e.g. "
        '{"EUR": "200"}: a cash-on-delivery order whose total is more is held for review. A '
        "currency not named has no such rule (none by default)",
        json_schema_extra={"format": PER_CURRENCY_FORMAT},
    )
    review_country_mismatch: bool = Field(
        default=True,
        description="hold for review an order whose delivery country differs from the "
        "billing_country its channel gave (an order without one is never held for it)",
    )
    review_timeout_seconds: float = Field(
        default=2 * 24 * 3600,
        gt=0,
        description="how long a held order waits for a reviewer before the review timer "
        "decides it (review_timeout_decision). Keep it under the held bound of "
        "stuck_after_seconds",
    )
    review_timeout_decision: ReviewDecision = Field(
        default=ReviewDecision.REJECT,
        description="what the review timer decides for an order nobody reviewed in time: "
        "reject (cancelled, review_rejected) or approve (payment charges it)",
    )

    stuck_after_seconds: dict[OrderStatus, float] = Field(
        default_factory=lambda: dict(STUCK_AFTER_SECONDS),
        description="per non-terminal status, how long an order may stay in it (since its last "
        'change) before it counts as stuck, e.g. {"placed": 86400}: orderflow_orders_stuck and '
        "`orderflow order stuck`. Statuses not named keep their default. placed lasts until "
        "delivery (intake hears nothing between), so its bound is a delivery's time and more",
        json_schema_extra={"format": "JSON object: status to seconds"},
    )

    @field_validator("stuck_after_seconds", mode="after")
    @classmethod
    def _over_stuck_defaults(cls, given: dict[OrderStatus, float]) -> dict[OrderStatus, float]:
        ended = sorted(status for status in given if status in TERMINAL)
        if ended:
            raise ValueError(f"{', '.join(ended)}: an order that ended is never stuck")
        wrong = sorted(status for status, seconds in given.items() if not seconds > 0)
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: a bound must be more than 0 seconds")
        return {**STUCK_AFTER_SECONDS, **given}

    @field_validator("accepted_currencies")
    @classmethod
    def _known_currencies(cls, codes: list[str]) -> list[str]:
        unknown = [code for code in codes if not known(code)]
        if unknown:
            raise ValueError(f"not ISO 4217 currency codes: {', '.join(unknown)}")
        return codes

    @field_validator("max_order_total", mode="after")
    @classmethod
    def _over_max_order_defaults(cls, given: PerCurrency) -> PerCurrency:
        return _over_defaults(MAX_ORDER_TOTAL, given)

    @field_validator("review_amount_over", "review_cash_on_delivery_over", mode="after")
    @classmethod
    def _review_amounts(cls, given: PerCurrency) -> PerCurrency:
        return _checked_amounts(given)

    @field_validator("cash_on_delivery_max_total", mode="after")
    @classmethod
    def _over_cash_on_delivery_defaults(cls, given: PerCurrency) -> PerCurrency:
        return _over_defaults(CASH_ON_DELIVERY_MAX_TOTAL, given)

    @model_validator(mode="after")
    def _held_longer_than_its_review(self) -> Self:
        """A held order waits for its review timer: counting it stuck before then is noise."""
        bound = self.stuck_after_seconds[OrderStatus.HELD]
        if bound <= self.review_timeout_seconds:
            raise ValueError(
                f"stuck_after_seconds: held's bound ({bound:g}s) must be longer than "
                f"review_timeout_seconds ({self.review_timeout_seconds:g}s)"
            )
        return self

    @model_validator(mode="after")
    def _a_limit_for_every_accepted_currency(self) -> Self:
        for name in ("max_order_total", "cash_on_delivery_max_total"):
            missing = [code for code in self.accepted_currencies if code not in getattr(self, name)]
            if missing:
                raise ValueError(f"{name}: no limit for the accepted {', '.join(missing)}")
        return self

    def max_order_total_minor(self, currency: str) -> int:
        return to_minor(self.max_order_total[currency], currency)

    def cash_on_delivery_max_total_minor(self, currency: str) -> int:
        return to_minor(self.cash_on_delivery_max_total[currency], currency)

    def in_minor(self, per_currency: PerCurrency) -> dict[str, int]:
        return {code: to_minor(amount, code) for code, amount in per_currency.items()}


def _over_defaults(defaults: dict[str, int], given: PerCurrency) -> PerCurrency:
    """The given limits over the defaults; each a positive amount its currency can express."""
    return {code: Decimal(amount) for code, amount in defaults.items()} | _checked_amounts(given)


def _checked_amounts(given: PerCurrency) -> PerCurrency:
    """Each a positive amount in a known currency, which that currency can express."""
    for code, amount in given.items():
        if not known(code):
            raise ValueError(f"{code} is not an ISO 4217 currency code")
        if amount < 0:
            raise ValueError(f"{code}: {amount} is negative")
        to_minor(amount, code)
    return given
