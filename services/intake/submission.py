"""What a submission must pass beyond its schema, and what makes two submissions the same."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.contracts import (
    Channel,
    Contact,
    Customer,
    DeliveryOption,
    OrderSubmit,
    PaymentMethod,
    Problem,
)
from shared.currencies import plain

from .settings import IntakeSettings

TOKEN_METHODS = frozenset({PaymentMethod.CARD, PaymentMethod.E_WALLET})
COD = PaymentMethod.CASH_ON_DELIVERY
UNKNOWN_CHANNEL = "unknown"


@dataclass(frozen=True, order=True)
class SubmissionKey:
    """What dedupes submissions: the channel and the channel's own order reference.

    It is also ``Order.submission``, so a batch's orders can be locked and found by it.
    """

    channel: str
    external_id: str

    @classmethod
    def of(cls, submit: OrderSubmit) -> SubmissionKey:
        return cls(submit.channel, submit.external_id)

    @classmethod
    def of_invalid(cls, data: dict[str, Any], message_id: str) -> SubmissionKey:
        """The key of a submission that failed its schema.

        When its channel and external id are valid, they are the key, so the corrected
        submission finds this order. Otherwise nothing ties it to another submission (a
        channel's placeholder subject would merge unrelated ones), so the envelope id stands in
        for the external id; the rejection's causation id leads the channel back to it.
        """
        channel, external_id = data.get("channel"), data.get("external_id")
        known_channel = isinstance(channel, str) and channel in {c.value for c in Channel}
        if known_channel and isinstance(external_id, str) and 1 <= len(external_id) <= 100:
            return cls(str(channel), external_id)
        return cls(str(channel) if known_channel else UNKNOWN_CHANNEL, message_id)


def customer_in(data: dict[str, Any]) -> Customer | None:
    """The customer of an invalid submission, if that part at least is valid."""
    try:
        return Customer.model_validate(data.get("customer"))
    except ValidationError:
        return None


def contact_in(data: dict[str, Any]) -> Contact | None:
    """Where to tell the customer of an invalid submission whose customer part is invalid as a
    whole (a bad name, say): its e-mail address if valid, with its language if that is valid."""
    customer = data.get("customer")
    if not isinstance(customer, dict):
        return None
    try:
        contact = Contact.model_validate({"email": customer.get("email")})
    except ValidationError:
        return None
    try:
        return Contact.model_validate({"email": contact.email, "language": customer["language"]})
    except (KeyError, ValidationError):
        return contact


@dataclass(frozen=True)
class OrderPolicy:
    """The business rules a schema-valid submission must also pass (from intake's settings)."""

    countries: frozenset[str]
    payment_methods: frozenset[PaymentMethod]
    max_total: Mapping[str, int]
    """Per accepted currency, in its minor units; its keys are the accepted currencies."""
    cash_on_delivery_max_total: Mapping[str, int]
    escrow_channels: frozenset[Channel]

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> OrderPolicy:
        accepted = settings.accepted_currencies
        return cls(
            countries=frozenset(settings.served_countries),
            payment_methods=frozenset(settings.accepted_payment_methods),
            max_total={code: settings.max_order_total_minor(code) for code in accepted},
            cash_on_delivery_max_total={
                code: settings.cash_on_delivery_max_total_minor(code) for code in accepted
            },
            escrow_channels=frozenset(settings.escrow_channels),
        )

    @property
    def currencies(self) -> frozenset[str]:
        return frozenset(self.max_total)

    def problems(self, submit: OrderSubmit) -> list[Problem]:
        """Every problem at once, so the customer can correct them all in one go. An order in a
        currency not accepted has no limits to check its amounts against."""
        currency = self._currency_problems(submit)
        return [
            *duplicate_skus(submit),
            *currency,
            *self._delivery_problems(submit),
            *self._payment_problems(submit, limits=not currency),
            *self._amount_problems(submit, limits=not currency),
        ]

    def _currency_problems(self, submit: OrderSubmit) -> list[Problem]:
        if submit.currency in self.currencies:
            return []
        return [not_allowed("currency", submit.currency, "accepted", self.currencies)]

    def _delivery_problems(self, submit: OrderSubmit) -> list[Problem]:
        found = []
        delivery = submit.delivery
        if delivery.address.country not in self.countries:
            field, country = "delivery.address.country", delivery.address.country
            found.append(not_allowed(field, country, "served", self.countries))
        if delivery.option == DeliveryOption.PICKUP_POINT and not delivery.pickup_point_id:
            message = "a pickup point delivery needs the pickup point's id"
            found.append(Problem(field="delivery.pickup_point_id", message=message))
        return found

    def _payment_problems(self, submit: OrderSubmit, limits: bool) -> list[Problem]:
        found = []
        method = submit.payment.method
        if method not in self.payment_methods:
            found.append(not_allowed("payment.method", method, "accepted", self.payment_methods))
        elif method == COD:
            found += self._cash_on_delivery_problems(submit, limits)
        elif method == PaymentMethod.ESCROW and submit.channel not in self.escrow_channels:
            channels = ", ".join(sorted(self.escrow_channels)) or "none"
            message = f"escrow is only for orders from these channels: {channels}"
            found.append(Problem(field="payment.method", message=message))
        if method in TOKEN_METHODS and not submit.payment.token:
            message = f"a {method} payment needs the payment gateway's token"
            found.append(Problem(field="payment.token", message=message))
        return found

    def _cash_on_delivery_problems(self, submit: OrderSubmit, limits: bool) -> list[Problem]:
        found = []
        if submit.delivery.option == DeliveryOption.PICKUP_POINT:
            message = "cash on delivery is not available for pickup point delivery"
            found.append(Problem(field="payment.method", message=message))
        total, currency = submit.items_total + submit.shipping_fee, submit.currency
        if limits and total > self.cash_on_delivery_max_total[currency]:
            limit = plain(self.cash_on_delivery_max_total[currency], currency)
            message = (
                f"cash on delivery is limited to {limit}; "
                f"the order total is {plain(total, currency)}"
            )
            found.append(Problem(field="payment.method", message=message))
        return found

    def _amount_problems(self, submit: OrderSubmit, limits: bool) -> list[Problem]:
        found = []
        if submit.items_total <= 0:
            found.append(Problem(field="lines", message="the items total must be above zero"))
        total, currency = submit.items_total + submit.shipping_fee, submit.currency
        if limits and total > self.max_total[currency]:
            limit = plain(self.max_total[currency], currency)
            over = f"{plain(total, currency)} is over the {limit} limit"
            found.append(Problem(field="total", message=f"the order total {over}"))
        taxes = sum(tax.amount for tax in submit.taxes)
        if taxes > total:
            message = (
                f"the taxes add up to {plain(taxes, currency)}, more than the order total "
                f"{plain(total, currency)} they are included in"
            )
            found.append(Problem(field="taxes", message=message))
        return found


def duplicate_skus(submit: OrderSubmit) -> list[Problem]:
    first_line: dict[str, int] = {}
    found = []
    for index, line in enumerate(submit.lines):
        if line.sku in first_line:
            message = f"{line.sku} is already on lines[{first_line[line.sku]}]; add the quantities"
            found.append(Problem(field=f"lines[{index}].sku", message=message))
        first_line.setdefault(line.sku, index)
    return found


def unlisted_skus(submit: OrderSubmit, listed: Set[str]) -> list[Problem]:
    """Lines whose SKU stock never listed: nothing could fulfil them, so they are refused here
    rather than cancelled as out of stock after every worker had a go."""
    return [
        Problem(field=f"lines[{index}].sku", message=f"{line.sku} is not in the catalogue")
        for index, line in enumerate(submit.lines)
        if line.sku not in listed
    ]


def not_allowed(field: str, value: str, verb: str, allowed: frozenset[str]) -> Problem:
    message = f"{value} is not {verb}; {verb}: {', '.join(sorted(allowed))}"
    return Problem(field=field, message=message)
