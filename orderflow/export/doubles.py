"""What the simulated third parties do, found by running them: the payment gateway's test tokens
and the carrier's addresses. ``docs/test-doubles.md`` and a section of the published contract are
written from it (``orderflow contracts export``), so the page cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from services.payment.gateway import GatewayEntry, SimulatedGateway
from services.payment.money import ChargeOutcome, ChargeRequest, RefundRequest
from services.payment.settings import PaymentSettings
from services.shipping.carrier import REFUSING, BookingRequest, SimulatedCarrier
from services.shipping.settings import ShippingSettings
from shared.clock import ManualClock
from shared.contracts import Address, Money
from shared.errors import TransientError

EXAMPLE_TOKENS = (
    "tok_visa",
    "tok_anything_else",
    "tok_decline",
    "tok_decline_insufficient_funds",
    "tok_decline_expired",
    "tok_transient",
    "tok_transient_visa",
    "4111111111111111",
)
"""Tokens shown on the page: what a channel would put in ``payment.token`` to get each answer."""

DELIVERING = "12 Main Street"
REFUSED = f"12 {REFUSING} Street"
EXAMPLE_TRANSIT_DAYS = 3


@dataclass(frozen=True)
class TokenBehaviour:
    token: str
    timeouts: int
    """How often the gateway timed out (a transient error, retried) before it answered."""
    outcome: ChargeOutcome
    refund_timeouts: int

    @property
    def answer(self) -> str:
        return "approved" if self.outcome.approved else f"declined, reason `{self.outcome.reason}`"


class _Books:
    """The gateway's ledger, in memory."""

    def __init__(self) -> None:
        self.entries: dict[str, GatewayEntry] = {}

    def find(self, idempotency_key: str) -> GatewayEntry | None:
        return self.entries.get(idempotency_key)

    def add(self, entry: GatewayEntry) -> None:
        self.entries[entry.idempotency_key] = entry


def transient_failures() -> int:
    default = PaymentSettings.model_fields["gateway_transient_failures"].default
    return int(default)


def token_behaviour(token: str, failures: int | None = None) -> TokenBehaviour:
    """Charge and refund with ``token`` on a fresh simulated gateway, as payment's retries would."""
    gateway = SimulatedGateway(transient_failures() if failures is None else failures)
    books = _Books()
    amount = Money(amount=1000, currency="EUR")
    charge = ChargeRequest("pay_example", "ord_example", amount, token)
    refund = RefundRequest("rf_example", "ord_example", amount, "cancelled", "card", token)
    timeouts, outcome = _until_answered(lambda: gateway.charge(charge, books))
    refund_timeouts, _ = _until_answered(lambda: gateway.refund(refund, books))
    return TokenBehaviour(token, timeouts, outcome, refund_timeouts)


T = TypeVar("T")


def _until_answered(call: Callable[[], T]) -> tuple[int, T]:
    timeouts = 0
    while True:
        try:
            return timeouts, call()
        except TransientError:
            timeouts += 1


@dataclass(frozen=True)
class Scan:
    after: timedelta
    status: str


def carrier_scans(line1: str) -> list[Scan]:
    """The scans the simulated carrier schedules for a parcel booked to ``line1``, with
    shipping's default settings and a service of ``EXAMPLE_TRANSIT_DAYS`` transit days."""
    settings = ShippingSettings.model_construct()
    clock = ManualClock()
    carrier = SimulatedCarrier(
        clock,
        settings.in_transit_after,
        settings.delivered_after,
        settings.delivery_attempts,
        settings.delivery_retry_interval,
    )
    address = Address(line1=line1, city="Berlin", postal_code="10178", country="DE")
    booking = carrier.book(
        BookingRequest(
            shipment_id="shp_example",
            order_id="ord_example",
            carrier="DHL",
            service="example",
            transit_days=EXAMPLE_TRANSIT_DAYS,
            address=address,
            pickup_point_id=None,
            parcels=[],
        )
    )
    start = clock.now()
    return [
        Scan(scheduled.due - start, str(getattr(scheduled.message, "status", "")))
        for scheduled in booking.scheduled_updates
    ]


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day" + ("s" if days != 1 else "")
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{seconds} s"


def gateway_table() -> list[str]:
    rows = ["| `payment.token` | charge | timeouts first (charge / refund) |", "|---|---|---|"]
    for token in EXAMPLE_TOKENS:
        behaviour = token_behaviour(token)
        timeouts = f"{behaviour.timeouts} / {behaviour.refund_timeouts}"
        rows.append(f"| `{token}` | {behaviour.answer} | {timeouts} |")
    return rows


def carrier_table(line1: str) -> list[str]:
    rows = ["| after booking | scan |", "|---|---|"]
    rows += [f"| {_duration(scan.after)} | `{scan.status}` |" for scan in carrier_scans(line1)]
    return rows


def markdown() -> str:
    """``docs/test-doubles.md``: generated, and compared with the checked-in page by a test."""
    failures = transient_failures()
    lines = [
        "# The simulated third parties",
        "",
        "<!-- Generated by `orderflow contracts export` from orderflow/export/doubles.py,",
        "     which runs the simulations themselves; edit those, not this file. -->",
        "",
        "orderflow talks to two third parties through a port each, and ships a simulation of",
        "both that tests, the demo and a sales channel's own tests drive from the order they",
        "submit.",
        "",
        "## Payment gateway (`services/payment/gateway.py`)",
        "",
        "The card or e-wallet token in an order's `payment.token` decides the gateway's answer.",
        "The table is what the simulated gateway answered each token when this page was made:",
        "",
        *gateway_table(),
        "",
        "- `tok_decline_<reason>` is declined with `<reason>`; plain `tok_decline` with",
        "  `declined`. Payment announces `payment.failed` with that reason and the order ends",
        "  `order.cancelled` with reason `payment_failed` and the decline reason as its detail.",
        "- `tok_transient…` makes the gateway time out on the first "
        f"{failures} calls for each idempotency",
        "  key (`ORDERFLOW_PAYMENT_GATEWAY_TRANSIENT_FAILURES`), charges and refunds alike, then",
        "  approve. Payment retries under the same key (in process with backoff, then delayed",
        "  tries), so the customer is charged once.",
        "- Any other `tok_…` is approved; anything not starting with `tok_` (such as a card",
        "  number, which must never be sent) is declined as `invalid_token`.",
        "- A refund is always approved, to the token for card and e-wallet payments, by bank for",
        "  money that came by transfer, escrow or cash on delivery.",
        "- Bank transfer and escrow payments wait for money: `orderflow payment notify <order id>",
        "  <amount>` plays the bank's notification.",
        "- The gateway is idempotent: it keeps its books per idempotency key (the payment id for a",
        "  charge, the refund id for a refund) in payment's database (`gateway_ledger`), and a",
        "  repeated key gets the stored answer without moving money again.",
        "",
        "## Carrier (`services/shipping/carrier.py`)",
        "",
        "The simulated carrier books every parcel at once and later reports tracking scans as",
        "`carrier.tracking_update` commands, as a real carrier's webhook would. With shipping's",
        f"default settings and a service of {EXAMPLE_TRANSIT_DAYS} transit days, a parcel to",
        f"`{DELIVERING}` is scanned:",
        "",
        *carrier_table(DELIVERING),
        "",
        f"An address whose first line contains `{REFUSING}` (upper case, anywhere in",
        "`delivery.address.line1`) is never delivered: every attempt fails, and after the last",
        f"the parcels go back to the warehouse. To `{REFUSED}`:",
        "",
        *carrier_table(REFUSED),
        "",
        "Each failed attempt makes shipping announce `shipment.delivery_failed`; the return",
        "makes it announce `shipment.returned`, and the order ends `order.cancelled` with reason",
        "`delivery_failed` (refunded, or voided for cash on delivery; restocked).",
        "",
        "The delays are settings (see [settings](settings.md)):",
        "`ORDERFLOW_SHIPPING_IN_TRANSIT_AFTER_SECONDS`,",
        "`ORDERFLOW_SHIPPING_DELIVERED_AFTER_SECONDS` (unset: the booked service's transit",
        "days), `ORDERFLOW_SHIPPING_DELIVERY_ATTEMPTS` and",
        "`ORDERFLOW_SHIPPING_DELIVERY_RETRY_INTERVAL_SECONDS`.",
        "",
    ]
    return "\n".join(lines)
