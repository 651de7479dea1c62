"""Order review: the rules that hold a placed order for a person, and what the review timer
decides when nobody did.

Each rule is a threshold an operator sets (``IntakeSettings.review_*``); an order trips a rule
when it goes beyond it ("more than", never "as much as"), so a limit is the largest order that
passes. Every rule tripped is a reason, so the reviewer sees all of them at once. A rule with no
threshold for the order's currency, or none at all, holds nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from shared.contracts import (
    OrderSubmit,
    PaymentMethod,
    ReviewDecision,
    ReviewReason,
    ReviewRule,
)
from shared.currencies import plain

from .settings import IntakeSettings


@dataclass(frozen=True)
class ReviewRules:
    amount_over: Mapping[str, int]
    """Per currency, in minor units."""
    units_of_one_sku: int | None
    cash_on_delivery_over: Mapping[str, int]
    """Per currency, in minor units."""
    country_mismatch: bool

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> ReviewRules:
        return cls(
            amount_over=settings.in_minor(settings.review_amount_over),
            units_of_one_sku=settings.review_units_of_one_sku,
            cash_on_delivery_over=settings.in_minor(settings.review_cash_on_delivery_over),
            country_mismatch=settings.review_country_mismatch,
        )

    def reasons(self, submit: OrderSubmit) -> list[ReviewReason]:
        """Every rule the order trips, in the rules' order; none: it goes on unheld."""
        return [*self._amount(submit), *self._units(submit), *self._country(submit)]

    def _amount(self, submit: OrderSubmit) -> list[ReviewReason]:
        total = submit.items_total + submit.shipping_fee
        reasons = []
        limit = self.amount_over.get(submit.currency)
        if limit is not None and total > limit:
            said = f"total {plain(total, submit.currency)} is over {plain(limit, submit.currency)}"
            reasons.append(ReviewReason(rule=ReviewRule.AMOUNT, message=said))
        limit = self.cash_on_delivery_over.get(submit.currency)
        on_delivery = submit.payment.method == PaymentMethod.CASH_ON_DELIVERY
        if on_delivery and limit is not None and total > limit:
            said = (
                f"cash on delivery of {plain(total, submit.currency)} is over "
                f"{plain(limit, submit.currency)}"
            )
            reasons.append(ReviewReason(rule=ReviewRule.CASH_ON_DELIVERY, message=said))
        return reasons

    def _units(self, submit: OrderSubmit) -> list[ReviewReason]:
        """Units are counted per SKU over every line, so splitting a SKU over lines does not
        slip under the limit."""
        if self.units_of_one_sku is None:
            return []
        units: Counter[str] = Counter()
        for line in submit.lines:
            units[line.sku] += line.quantity
        return [
            ReviewReason(
                rule=ReviewRule.UNITS_OF_ONE_SKU,
                message=f"{sku}: {count} units, more than {self.units_of_one_sku}",
            )
            for sku, count in units.items()
            if count > self.units_of_one_sku
        ]

    def _country(self, submit: OrderSubmit) -> list[ReviewReason]:
        billed, shipped = submit.billing_country, submit.delivery.address.country
        if not self.country_mismatch or billed is None or billed == shipped:
            return []
        said = f"billed in {billed}, shipped to {shipped}"
        return [ReviewReason(rule=ReviewRule.COUNTRY_MISMATCH, message=said)]


@dataclass(frozen=True)
class Review:
    """The rules, and how long a held order waits before the timer decides it, and how."""

    rules: ReviewRules
    timeout: timedelta
    on_timeout: ReviewDecision

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> Review:
        return cls(
            ReviewRules.from_settings(settings),
            timedelta(seconds=settings.review_timeout_seconds),
            settings.review_timeout_decision,
        )
