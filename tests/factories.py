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


def order_submit(**overrides: Any) -> OrderSubmit:
    fields: dict[str, Any] = {
        "channel": "web",
        "external_id": "WEB-1001",
        "customer": Customer(name="Ada Lovelace", email="ada@example.com", language="en"),
        "lines": [OrderLine(sku="MUG-BLUE", quantity=2, unit_price=1250)],
        "currency": "EUR",
        "shipping_fee": 495,
        "delivery": Delivery(
            option=DeliveryOption.STANDARD,
            address=Address(line1="1 Main St", city="Berlin", postal_code="10115", country="DE"),
        ),
        "payment": PaymentInstruction(method=PaymentMethod.CARD, token="tok_approve"),
    }
    fields.update(overrides)
    return OrderSubmit(**fields)


def order_placed(order_id: str = "ord-1", **overrides: Any) -> OrderPlaced:
    submit = order_submit()
    fields: dict[str, Any] = {
        "order_id": order_id,
        "channel": submit.channel,
        "external_id": submit.external_id,
        "customer": submit.customer,
        "lines": submit.lines,
        "currency": submit.currency,
        "items_total": submit.items_total,
        "shipping_fee": submit.shipping_fee,
        "total": submit.items_total + submit.shipping_fee,
        "delivery": submit.delivery,
        "payment": submit.payment,
    }
    fields.update(overrides)
    if "lines" in overrides and "items_total" not in overrides:
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
