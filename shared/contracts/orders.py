"""Messages about the order itself: channel submissions and intake's announcements."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from shared.currencies import ACCEPTED

from .base import Currency, Email, Message, MinorUnits, OrderLine, OrderMessage, _Frozen

Language = Literal["en", "ru", "uk", "zh"]


class Channel(StrEnum):
    WEB = "web"
    MARKETPLACE = "marketplace"
    PHONE = "phone"
    EMAIL = "email"
    POS = "pos"


class DeliveryOption(StrEnum):
    STANDARD = "standard"
    EXPRESS = "express"
    PICKUP_POINT = "pickup_point"


class PaymentMethod(StrEnum):
    CARD = "card"
    E_WALLET = "e_wallet"
    BANK_TRANSFER = "bank_transfer"
    ESCROW = "escrow"
    CASH_ON_DELIVERY = "cash_on_delivery"


class Customer(_Frozen):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Email
    phone: Annotated[str, Field(max_length=32)] | None = None
    language: Language = "en"


Country = Annotated[
    str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code, e.g. DE.")
]


class Address(_Frozen):
    line1: Annotated[str, Field(min_length=1, max_length=200)]
    line2: Annotated[str, Field(max_length=200)] | None = None
    city: Annotated[str, Field(min_length=1, max_length=100)]
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    country: Country


class Delivery(_Frozen):
    option: DeliveryOption
    address: Address
    pickup_point_id: Annotated[str, Field(max_length=64)] | None = None


class PaymentInstruction(_Frozen):
    method: PaymentMethod
    token: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="A gateway token, never a card number."
    )


class TaxLine(_Frozen):
    """A tax the channel charged, included in the order's prices (and fee), as it will print on
    the invoice: orderflow never computes tax, the channel's figure is authoritative."""

    name: Annotated[str, Field(min_length=1, max_length=60, description="e.g. VAT, НДС, 增值税.")]
    rate_basis_points: Annotated[int, Field(ge=0, le=10_000)] = Field(
        description="The rate in hundredths of a percent: 1900 is 19%."
    )
    amount: MinorUnits = Field(
        description="The tax in minor units of the order's currency, included in its total."
    )


class Problem(_Frozen):
    """One thing wrong with a submitted order, named by its field so the customer can fix it."""

    field: str
    message: str


class OrderSubmit(Message):
    """A sales channel asks for an order to be placed."""

    type: ClassVar[str] = "order.submit"
    kind: ClassVar[Literal["command"]] = "command"

    channel: Channel
    external_id: Annotated[str, Field(min_length=1, max_length=100)]
    customer: Customer
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=200)]
    currency: Currency = Field(
        description="The order's currency: its prices, fee, total, payment and refunds are all in "
        f"it. Accepted by default: {', '.join(ACCEPTED)} (intake's accepted_currencies). The "
        "channel's prices in this currency are authoritative; orderflow never converts between "
        "currencies."
    )
    shipping_fee: MinorUnits = Field(
        default=0,
        description="What the customer pays for delivery, as the channel priced it, in minor "
        "units of the order's currency.",
    )
    delivery: Delivery
    payment: PaymentInstruction
    submitted_at: datetime | None = None
    billing_country: Country | None = Field(
        default=None,
        description="Where the payer is billed, when the channel knows it: intake may hold an "
        "order shipped elsewhere for review.",
    )
    taxes: Annotated[list[TaxLine], Field(max_length=20)] = Field(
        default_factory=list,
        description="The taxes included in the prices, for the invoice; none if the channel "
        "sends none.",
    )

    @property
    def subject(self) -> str:
        return f"{self.channel}:{self.external_id}"

    @property
    def items_total(self) -> int:
        return sum(line.quantity * line.unit_price for line in self.lines)


class OrderPlaced(OrderMessage):
    """The order passed validation; it carries everything downstream workers need to keep."""

    type: ClassVar[str] = "order.placed"

    channel: Channel
    external_id: str
    customer: Customer
    lines: list[OrderLine]
    currency: Currency
    items_total: MinorUnits
    shipping_fee: MinorUnits
    total: MinorUnits
    delivery: Delivery
    payment: PaymentInstruction
    expected_delivery: date | None = Field(
        default=None, description="Intake's estimate from the delivery option."
    )
    held_for_review: bool = Field(
        default=False,
        description="A review rule held the order (order.held): payment waits for order.approved.",
    )
    taxes: list[TaxLine] = Field(
        default_factory=list, description="The taxes included in the prices, as submitted."
    )


class Contact(_Frozen):
    """Where to write about a submission whose customer part is invalid as a whole."""

    email: Email
    language: Language = "en"


class OrderRejected(OrderMessage):
    """The submission cannot become an order as it is (terminal, unless the channel corrects it):
    every problem found is listed, each naming its field. A corrected submission with the same
    channel and external id is judged again under the same order id."""

    type: ClassVar[str] = "order.rejected"

    channel: str
    external_id: str
    problems: Annotated[list[Problem], Field(min_length=1)]
    customer: Customer | None = Field(
        default=None, description="The submission's customer, when that part of it is valid."
    )
    attempt: Annotated[int, Field(ge=1, description="Which submission of this order failed.")] = 1
    contact: Contact | None = Field(
        default=None,
        description="When the customer part is invalid but its e-mail address is valid: that "
        "address (and the language, if valid), so the customer still hears of the rejection.",
    )


class CancelReason(StrEnum):
    """Why intake cancelled an order (``order.cancelled``'s ``reason``)."""

    OUT_OF_STOCK = "out_of_stock"
    BACKORDER_EXPIRED = "backorder_expired"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_EXPIRED = "payment_expired"
    CUSTOMER_CANCELLED = "customer_cancelled"
    DELIVERY_FAILED = "delivery_failed"
    REVIEW_REJECTED = "review_rejected"


CANCEL_REASONS: dict[CancelReason, str] = {
    CancelReason.OUT_OF_STOCK: "stock could not reserve every line, and a short SKU takes no "
    "backorders",
    CancelReason.BACKORDER_EXPIRED: "goods on backorder did not arrive within the grace period",
    CancelReason.PAYMENT_FAILED: "the gateway declined the card or e-wallet; the detail is its "
    "reason (e.g. insufficient_funds)",
    CancelReason.PAYMENT_EXPIRED: "a bank transfer or escrow payment did not arrive by its "
    "deadline",
    CancelReason.CUSTOMER_CANCELLED: "the customer cancelled before the parcels left; the detail "
    "is their reason",
    CancelReason.DELIVERY_FAILED: "the carrier could not deliver and the parcels came back; the "
    "detail says after how many attempts",
    CancelReason.REVIEW_REJECTED: "a reviewer rejected the order held for review (or its review "
    "time ran out and intake rejects then); the detail says why",
}
"""What each cancel reason means, for the published contract."""

OrderChannel = Annotated[
    str | None,
    Field(
        description="The channel that submitted the order; the event also goes to that "
        "channel's queue. None only in events published before it was added."
    ),
]


class OrderCancelled(OrderMessage):
    """The order ended cancelled (terminal): what was reserved is released, what was paid is
    refunded or voided."""

    type: ClassVar[str] = "order.cancelled"

    reason: Annotated[str, Field(min_length=1, description="A CancelReason, e.g. out_of_stock.")]
    detail: str = ""
    channel: OrderChannel = None


class OrderCompleted(OrderMessage):
    """The order ended completed (terminal): delivered, and the complaint window passed with no
    after-sales case open."""

    type: ClassVar[str] = "order.completed"

    channel: OrderChannel = None


class OrderCompletionDue(OrderMessage):
    """Intake's timer: the complaint window after delivery has passed."""

    type: ClassVar[str] = "order.completion_due"
    kind: ClassVar[Literal["timer"]] = "timer"


class OrderCancel(OrderMessage):
    """A customer (or customer service for them) asks to cancel; the warehouse decides."""

    type: ClassVar[str] = "order.cancel"
    kind: ClassVar[Literal["command"]] = "command"

    reason: Annotated[str, Field(min_length=1, max_length=500)]


class OrderChangeAddress(OrderMessage):
    """A new delivery address; shipping accepts it until the parcels are booked."""

    type: ClassVar[str] = "order.change_address"
    kind: ClassVar[Literal["command"]] = "command"

    address: Address
    pickup_point_id: Annotated[str, Field(max_length=64)] | None = None
    reason: Annotated[str, Field(max_length=500)] = ""
