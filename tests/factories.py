"""Valid messages to start tests from; override what the test is about."""

from __future__ import annotations

from typing import Any

from shared.contracts import (
    Address,
    Customer,
    Delivery,
    DeliveryOption,
    InspectedLine,
    ItemQuantity,
    OrderLine,
    OrderPlaced,
    OrderSubmit,
    PaymentInstruction,
    PaymentMethod,
    ReplacementRequested,
    Resolution,
    ReturnReceived,
    original_order,
)

ADA = Customer(name="Ada Lovelace", email="ada@example.com", language="en")
APPROVED_TOKEN = "tok_approve"
"""A card or e-wallet token the simulated gateway approves."""


def address_in(country: str = "DE", line1: str = "1 Main St") -> Address:
    return Address(line1=line1, city="Berlin", postal_code="10115", country=country)


def delivery_to(
    option: DeliveryOption = DeliveryOption.STANDARD,
    country: str = "DE",
    pickup_point_id: str | None = None,
    address: Address | None = None,
) -> Delivery:
    address = address or address_in(country)
    return Delivery(option=option, address=address, pickup_point_id=pickup_point_id)


def paid_by(method: PaymentMethod | str, token: str | None = APPROVED_TOKEN) -> PaymentInstruction:
    """``method``: a card or an e-wallet with ``token``, anything else (a transfer, escrow, cash
    on delivery) with none."""
    carries_token = method in (PaymentMethod.CARD, PaymentMethod.E_WALLET)
    return PaymentInstruction(method=method, token=token if carries_token else None)


def order_lines(*wanted: tuple[str, int]) -> list[OrderLine]:
    """A line per (SKU, quantity), at 1.00 a unit."""
    return [OrderLine(sku=sku, quantity=quantity, unit_price=100) for sku, quantity in wanted]


def order_submit(**overrides: Any) -> OrderSubmit:
    fields: dict[str, Any] = {
        "channel": "web",
        "external_id": "WEB-1001",
        "customer": ADA,
        "lines": [OrderLine(sku="MUG-BLUE", quantity=2, unit_price=1250)],
        "currency": "EUR",
        "shipping_fee": 495,
        "delivery": delivery_to(),
        "payment": PaymentInstruction(method=PaymentMethod.CARD, token=APPROVED_TOKEN),
    }
    fields.update(overrides)
    return OrderSubmit(**fields)


def order_placed(
    order_id: str = "ord-1",
    *wanted: tuple[str, int],
    method: PaymentMethod | str = PaymentMethod.CARD,
    token: str | None = APPROVED_TOKEN,
    language: str = ADA.language,
    email: str = ADA.email,
    **overrides: Any,
) -> OrderPlaced:
    """The order ``order_submit`` places, with the ``wanted`` lines (see ``order_lines``), paid
    by ``method`` (see ``paid_by``), for a customer writing in ``language`` from ``email``;
    ``overrides`` set any field outright."""
    submit = order_submit()
    fields: dict[str, Any] = {
        "order_id": order_id,
        "channel": submit.channel,
        "external_id": submit.external_id,
        "customer": ADA.model_copy(update={"language": language, "email": email}),
        "lines": order_lines(*wanted) if wanted else submit.lines,
        "currency": submit.currency,
        "items_total": submit.items_total,
        "shipping_fee": submit.shipping_fee,
        "total": submit.items_total + submit.shipping_fee,
        "delivery": submit.delivery,
        "payment": paid_by(method, token),
    }
    fields.update(overrides)
    if (wanted or "lines" in overrides) and "items_total" not in overrides:
        fields["items_total"] = sum(line.quantity * line.unit_price for line in fields["lines"])
        fields["total"] = fields["items_total"] + fields["shipping_fee"]
    return OrderPlaced(**fields)


def replacement_requested(case_id: str = "ord-1.1", **overrides: Any) -> ReplacementRequested:
    """An exchange's new goods, sent as an order of its own whose id is the case id."""
    submit = order_submit()
    fields: dict[str, Any] = {
        "order_id": case_id,
        "replaces_order": original_order(case_id),
        "request": "exchange",
        "lines": [ItemQuantity(sku="MUG-BLUE", quantity=1)],
        "customer": submit.customer,
        "delivery": submit.delivery,
        "reason": "wrong colour",
    }
    fields.update(overrides)
    return ReplacementRequested(**fields)


def return_received(rma: str = "ord-1.1", **overrides: Any) -> ReturnReceived:
    """The goods of an RMA (a case id) came back, inspected; announced for its original order."""
    fields: dict[str, Any] = {
        "order_id": original_order(rma),
        "rma": rma,
        "resolution": Resolution.REFUND,
        "lines": [InspectedLine(sku="MUG-BLUE", resellable=1)],
    }
    fields.update(overrides)
    return ReturnReceived(**fields)
