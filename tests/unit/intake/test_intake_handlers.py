"""Intake, as a specification: judge submissions, own the order's status, close it when done."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.bootstrap import bootstrap
from services.intake.model import CatalogueItem, Order, OrderStatus
from services.intake.settings import IntakeSettings
from services.intake.store import IntakeUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Address,
    Delivery,
    DeliveryOption,
    FulfillmentCancelled,
    Message,
    Money,
    OrderCancelled,
    OrderCompleted,
    OrderCompletionDue,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderSubmit,
    PaymentExpired,
    PaymentFailed,
    PaymentInstruction,
    PaymentMethod,
    PaymentPending,
    Problem,
    ShipmentAddressChanged,
    ShipmentDelivered,
    ShipmentReturned,
    StockBackordered,
    StockBackorderExpired,
    StockItemListed,
    StockUnavailable,
    TaxLine,
)
from shared.envelope import Envelope, InvalidMessage, open_payload
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_submit
from tests.unit.conftest import QueryCounter, handle, handle_invalid, listed

DELIVERED_AT = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)


@pytest.fixture
def service(clock: ManualClock) -> Service:
    return bootstrap(clock, IntakeSettings(max_order_total={"EUR": "1000"}))


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> IntakeUnitOfWork:
    """Intake's unit of work; stock has listed the SKU the factories order."""
    return listed(service, IntakeUnitOfWork(session_for(service)))


def place(service: Service, uow: IntakeUnitOfWork) -> OrderPlaced:
    [placed] = handle(service, order_submit(), uow)
    assert isinstance(placed, OrderPlaced)
    return placed


def deliver(service: Service, uow: IntakeUnitOfWork, order_id: str) -> list[Message | Scheduled]:
    delivered = ShipmentDelivered(
        order_id=order_id, shipment_id="shp-1", tracking_number="TRK1", delivered_at=DELIVERED_AT
    )
    return handle(service, delivered, uow)


def payment_failed(order_id: str) -> PaymentFailed:
    return PaymentFailed(
        order_id=order_id, payment_id="pay-1", method=PaymentMethod.CARD, reason="declined"
    )


def out_of_stock(order_id: str) -> StockUnavailable:
    return StockUnavailable(order_id=order_id, shortages=[], unknown_skus=["MUG-BLUE"])


def rejection(events: Iterable[Message | Scheduled]) -> OrderRejected:
    [event] = events
    assert isinstance(event, OrderRejected)
    return event


def order_of(uow: IntakeUnitOfWork, order_id: str) -> Order:
    order = uow.orders.get(order_id)
    assert order is not None
    return order


def submit_envelope(
    data: dict[str, Any], subject: str = "web:WEB-1001", message_id: str = "msg-submit-1"
) -> Envelope:
    return Envelope(
        id=message_id,
        type=OrderSubmit.type,
        source="web",
        subject=subject,
        time=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        correlationid=subject,
        data=data,
    )


def schema_failure(envelope: Envelope) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as failure:
        open_payload(envelope)
    return failure.value


# -- a valid submission ---------------------------------------------------------------------


def test_a_valid_submission_places_the_order_with_everything_downstream_needs(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    placed = place(service, uow)

    assert re.fullmatch(r"ord_[0-9a-f]{24}", placed.order_id)
    assert (placed.items_total, placed.shipping_fee, placed.total) == (2500, 495, 2995)
    assert placed.customer.email == "ada@example.com"
    assert placed.payment.token == "tok_approve"
    order = order_of(uow, placed.order_id)
    assert (order.status, order.channel, order.external_id) == ("placed", "web", "WEB-1001")
    assert order.lines == [OrderLine(sku="MUG-BLUE", quantity=2, unit_price=1250)]


def test_the_same_submission_again_places_nothing(service: Service, uow: IntakeUnitOfWork) -> None:
    place(service, uow)

    assert handle(service, order_submit(), uow) == []
    assert uow.orders.counts_by_status() == {"placed": 1}


def test_the_same_external_id_from_another_channel_is_another_order(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    first = place(service, uow)

    [second] = handle(service, order_submit(channel="pos"), uow)

    assert isinstance(second, OrderPlaced)
    assert second.order_id != first.order_id


# -- business validation --------------------------------------------------------------------


def test_a_rejection_lists_every_problem_by_field(service: Service, uow: IntakeUnitOfWork) -> None:
    submit = order_submit(
        lines=[
            OrderLine(sku="MUG-BLUE", quantity=1, unit_price=0),
            OrderLine(sku="MUG-BLUE", quantity=2, unit_price=0),
        ],
        currency="SEK",
        delivery=Delivery(
            option=DeliveryOption.PICKUP_POINT,
            address=Address(line1="Rua 1", city="Porto Alegre", postal_code="90000", country="BR"),
        ),
        payment=PaymentInstruction(method=PaymentMethod.CASH_ON_DELIVERY),
    )

    rejected = rejection(handle(service, submit, uow))

    assert [problem.field for problem in rejected.problems] == [
        "lines[1].sku",
        "currency",
        "delivery.address.country",
        "delivery.pickup_point_id",
        "payment.method",
        "lines",
    ]
    assert rejected.problems[4].message == (
        "cash on delivery is not available for pickup point delivery"
    )
    assert rejected.customer == submit.customer
    order = order_of(uow, rejected.order_id)
    assert order.status == OrderStatus.REJECTED
    assert order.problems == rejected.problems


@pytest.mark.parametrize("method", [PaymentMethod.CARD, PaymentMethod.E_WALLET])
def test_card_and_e_wallet_payments_need_a_token(
    service: Service, method: PaymentMethod, uow: IntakeUnitOfWork
) -> None:
    submit = order_submit(payment=PaymentInstruction(method=method))

    [problem] = rejection(handle(service, submit, uow)).problems

    assert problem.field == "payment.token"


def test_an_order_over_the_maximum_total_is_rejected(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    submit = order_submit(lines=[OrderLine(sku="MUG-BLUE", quantity=100, unit_price=1000)])

    [problem] = rejection(handle(service, submit, uow)).problems

    assert problem.field == "total"
    assert problem.message == "the order total 1004.95 EUR is over the 1000.00 EUR limit"


def test_the_order_keeps_the_taxes_its_channel_charged_for_the_invoice(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    vat = TaxLine(name="VAT", rate_basis_points=1900, amount=478)

    [placed] = handle(service, order_submit(taxes=[vat]), uow)

    assert isinstance(placed, OrderPlaced)
    assert placed.taxes == [vat]
    order = uow.orders.get(placed.order_id)
    assert order is not None and order.taxes == [vat]


def test_taxes_over_the_total_they_are_included_in_are_rejected(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    taxes = [
        TaxLine(name="VAT", rate_basis_points=1900, amount=2500),
        TaxLine(name="X", rate_basis_points=100, amount=496),
    ]

    [problem] = rejection(handle(service, order_submit(taxes=taxes), uow)).problems

    assert problem == Problem(
        field="taxes",
        message="the taxes add up to 29.96 EUR, more than the order total 29.95 EUR they are "
        "included in",
    )


def test_the_accepted_currencies_come_from_settings(
    uow: IntakeUnitOfWork, clock: ManualClock
) -> None:
    service = bootstrap(clock, IntakeSettings(accepted_currencies=["EUR", "GBP"]))

    [event] = service.handlers[OrderSubmit](order_submit(currency="GBP"), uow)

    assert isinstance(event, OrderPlaced)


@pytest.mark.parametrize(
    ("currency", "unit_price", "shipping_fee"),
    [("RUB", 119_000, 49_000), ("UAH", 49_900, 7_000), ("CNY", 9_900, 1_500), ("JPY", 1_800, 700)],
)
def test_orders_in_the_customers_currencies_are_placed_by_default(
    currency: str,
    unit_price: int,
    shipping_fee: int,
    uow: IntakeUnitOfWork,
    clock: ManualClock,
) -> None:
    service = bootstrap(clock, IntakeSettings())
    submit = order_submit(
        lines=[OrderLine(sku="MUG-BLUE", quantity=2, unit_price=unit_price)],
        currency=currency,
        shipping_fee=shipping_fee,
    )

    [placed] = handle(service, submit, uow)

    assert isinstance(placed, OrderPlaced)
    assert (placed.currency, placed.total) == (currency, 2 * unit_price + shipping_fee)


def test_a_currency_not_accepted_is_named_with_the_accepted_ones(
    uow: IntakeUnitOfWork, clock: ManualClock
) -> None:
    service = bootstrap(clock, IntakeSettings(accepted_currencies=["RUB", "UAH", "JPY"]))

    [problem] = rejection(handle(service, order_submit(currency="EUR"), uow)).problems

    assert problem == Problem(
        field="currency", message="EUR is not accepted; accepted: JPY, RUB, UAH"
    )


def test_the_limits_are_per_currency_and_shown_with_its_decimals(
    uow: IntakeUnitOfWork, clock: ManualClock
) -> None:
    service = bootstrap(
        clock,
        IntakeSettings(
            max_order_total={"JPY": "100000"}, cash_on_delivery_max_total={"RUB": "500"}
        ),
    )
    yen = order_submit(
        lines=[OrderLine(sku="MUG-BLUE", quantity=60, unit_price=1_800)],
        currency="JPY",
        shipping_fee=700,
    )
    roubles = order_submit(
        external_id="WEB-2",
        lines=[OrderLine(sku="MUG-BLUE", quantity=1, unit_price=49_999)],
        currency="RUB",
        shipping_fee=2,
        payment=PaymentInstruction(method=PaymentMethod.CASH_ON_DELIVERY),
    )

    [over_total] = rejection(handle(service, yen, uow)).problems
    [over_cash] = rejection(handle(service, roubles, uow)).problems

    assert over_total.message == "the order total 108700 JPY is over the 100000 JPY limit"
    assert over_cash.message == (
        "cash on delivery is limited to 500.00 RUB; the order total is 500.01 RUB"
    )


def test_a_limit_the_currency_cannot_express_or_a_missing_one_stops_the_start() -> None:
    with pytest.raises(ValueError, match="a JPY amount has no decimals"):
        IntakeSettings(max_order_total={"JPY": "99.5"})
    with pytest.raises(ValueError, match="no limit for the accepted SEK"):
        IntakeSettings(accepted_currencies=["EUR", "SEK"])
    with pytest.raises(ValueError, match="not ISO 4217 currency codes: EURO"):
        IntakeSettings(accepted_currencies=["EURO"])


def test_bootstrap_reads_settings_from_the_environment(
    uow: IntakeUnitOfWork, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERFLOW_INTAKE_ACCEPTED_PAYMENT_METHODS", '["card", "bank_transfer"]')
    service = bootstrap(clock)
    submit = order_submit(payment=PaymentInstruction(method=PaymentMethod.BANK_TRANSFER))

    [event] = service.handlers[OrderSubmit](submit, uow)

    assert isinstance(event, OrderPlaced)


def test_a_currency_not_accepted_is_rejected_naming_the_currency(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    [problem] = rejection(handle(service, order_submit(currency="XXX"), uow)).problems

    assert problem.field == "currency"
    assert problem.message.startswith("XXX is not accepted; accepted: ")


# -- the catalogue --------------------------------------------------------------------------


def test_a_line_whose_sku_stock_never_listed_is_rejected_naming_the_line(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    submit = order_submit(
        lines=[
            OrderLine(sku="MUG-BLUE", quantity=1, unit_price=1250),
            OrderLine(sku="MUG-PINK", quantity=1, unit_price=1250),
            OrderLine(sku="LAMP-NEW", quantity=2, unit_price=4000),
        ]
    )

    rejected = rejection(handle(service, submit, uow))

    assert rejected.problems == [
        Problem(field="lines[1].sku", message="MUG-PINK is not in the catalogue"),
        Problem(field="lines[2].sku", message="LAMP-NEW is not in the catalogue"),
    ]
    assert order_of(uow, rejected.order_id).status == OrderStatus.REJECTED


def test_an_unknown_sku_is_listed_with_every_other_problem(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    submit = order_submit(
        lines=[OrderLine(sku="MUG-PINK", quantity=1, unit_price=1250)], currency="XXX"
    )

    rejected = rejection(handle(service, submit, uow))

    assert [problem.field for problem in rejected.problems] == ["lines[0].sku", "currency"]


def test_once_stock_lists_the_sku_the_corrected_submission_is_placed_under_the_same_id(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    pink = order_submit(lines=[OrderLine(sku="MUG-PINK", quantity=1, unit_price=1250)])
    [rejected] = service.handlers[OrderSubmit](pink, uow)

    assert list(service.handlers[StockItemListed](StockItemListed(sku="MUG-PINK"), uow)) == []
    [placed] = service.handlers[OrderSubmit](pink, uow)

    assert isinstance(rejected, OrderRejected) and isinstance(placed, OrderPlaced)
    assert placed.order_id == rejected.order_id


def test_a_sku_listed_again_changes_nothing(
    service: Service, uow: IntakeUnitOfWork, clock: ManualClock
) -> None:
    first = clock.now()
    clock.advance(timedelta(hours=1))

    assert list(service.handlers[StockItemListed](StockItemListed(sku="MUG-BLUE"), uow)) == []
    uow.session.flush()

    [item] = uow.session.scalars(select(CatalogueItem)).all()
    assert (item.sku, item.listed_at) == ("MUG-BLUE", first)
    assert uow.catalogue.listed(["MUG-BLUE", "MUG-PINK"]) == {"MUG-BLUE"}


# -- payment methods ------------------------------------------------------------------------


def marketplace_escrow() -> OrderSubmit:
    return order_submit(channel="marketplace", payment=PaymentInstruction(method="escrow"))


def cash_on_delivery(**overrides: Any) -> OrderSubmit:
    return order_submit(payment=PaymentInstruction(method="cash_on_delivery"), **overrides)


@pytest.mark.parametrize(
    "submit",
    [
        order_submit(payment=PaymentInstruction(method="card", token="tok_approve")),
        order_submit(payment=PaymentInstruction(method="e_wallet", token="tok_wallet")),
        order_submit(payment=PaymentInstruction(method="bank_transfer")),
        marketplace_escrow(),
        cash_on_delivery(),
    ],
    ids=lambda submit: str(submit.payment.method),
)
def test_all_five_payment_methods_are_accepted_by_default(
    service: Service, submit: OrderSubmit, uow: IntakeUnitOfWork
) -> None:
    [event] = handle(service, submit, uow)

    assert isinstance(event, OrderPlaced)
    assert event.payment == submit.payment


def test_cash_on_delivery_is_refused_for_pickup_point_delivery(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    pickup = Delivery(
        option=DeliveryOption.PICKUP_POINT,
        address=Address(line1="Station 4", city="Berlin", postal_code="10115", country="DE"),
        pickup_point_id="PP-17",
    )

    [problem] = rejection(handle(service, cash_on_delivery(delivery=pickup), uow)).problems

    assert problem == Problem(
        field="payment.method",
        message="cash on delivery is not available for pickup point delivery",
    )


def test_cash_on_delivery_is_refused_above_its_maximum_total(
    uow: IntakeUnitOfWork, clock: ManualClock
) -> None:
    service = bootstrap(clock, IntakeSettings(cash_on_delivery_max_total={"EUR": "29.95"}))
    over = cash_on_delivery(external_id="WEB-2", shipping_fee=496)

    [placed] = handle(service, cash_on_delivery(), uow)
    [problem] = rejection(handle(service, over, uow)).problems

    assert isinstance(placed, OrderPlaced) and placed.total == 2995
    assert problem == Problem(
        field="payment.method",
        message="cash on delivery is limited to 29.95 EUR; the order total is 29.96 EUR",
    )


def test_escrow_is_only_for_marketplace_orders(service: Service, uow: IntakeUnitOfWork) -> None:
    from_the_web_shop = order_submit(payment=PaymentInstruction(method="escrow"))

    [problem] = rejection(handle(service, from_the_web_shop, uow)).problems

    assert problem == Problem(
        field="payment.method",
        message="escrow is only for orders from these channels: marketplace",
    )


def test_the_payment_rules_come_from_settings(uow: IntakeUnitOfWork, clock: ManualClock) -> None:
    settings = IntakeSettings(
        accepted_payment_methods=["card", "escrow"], escrow_channels=["web", "marketplace"]
    )
    service = bootstrap(clock, settings)
    web_escrow = order_submit(payment=PaymentInstruction(method="escrow"))

    [placed] = handle(service, web_escrow, uow)
    [problem] = rejection(handle(service, cash_on_delivery(external_id="WEB-2"), uow)).problems

    assert isinstance(placed, OrderPlaced)
    assert problem.message == "cash_on_delivery is not accepted; accepted: card, escrow"


# -- the expected delivery ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "pickup_point_id", "expected"),
    [
        (DeliveryOption.STANDARD, None, date(2026, 3, 7)),
        (DeliveryOption.EXPRESS, None, date(2026, 3, 4)),
        (DeliveryOption.PICKUP_POINT, "PP-17", date(2026, 3, 6)),
    ],
)
def test_a_placed_order_carries_its_expected_delivery_by_delivery_option(
    service: Service,
    option: DeliveryOption,
    pickup_point_id: str | None,
    expected: date,
    uow: IntakeUnitOfWork,
    clock: ManualClock,
) -> None:
    address = Address(line1="1 Main St", city="Berlin", postal_code="10115", country="DE")
    delivery = Delivery(option=option, address=address, pickup_point_id=pickup_point_id)

    [placed] = handle(service, order_submit(delivery=delivery), uow)

    assert clock.now().date() == date(2026, 3, 2)
    assert isinstance(placed, OrderPlaced) and placed.expected_delivery == expected
    assert order_of(uow, placed.order_id).expected_delivery == expected


def test_the_days_per_delivery_option_come_from_settings(
    uow: IntakeUnitOfWork, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERFLOW_INTAKE_DELIVERY_DAYS", '{"standard": 1}')
    service = bootstrap(clock)
    express = order_submit(
        external_id="WEB-2",
        delivery=order_submit().delivery.model_copy(update={"option": DeliveryOption.EXPRESS}),
    )

    [standard_order] = service.handlers[OrderSubmit](order_submit(), uow)
    [express_order] = service.handlers[OrderSubmit](express, uow)

    assert isinstance(standard_order, OrderPlaced)
    assert standard_order.expected_delivery == date(2026, 3, 3)
    assert isinstance(express_order, OrderPlaced) and express_order.expected_delivery is None


# -- corrections ----------------------------------------------------------------------------


def test_a_corrected_submission_places_the_rejected_order_under_the_same_id(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    rejected = rejection(handle(service, order_submit(currency="SEK"), uow))

    [placed] = handle(service, order_submit(), uow)

    assert isinstance(placed, OrderPlaced)
    assert placed.order_id == rejected.order_id
    order = order_of(uow, placed.order_id)
    assert (order.status, order.problems, order.attempts) == ("placed", [], 2)


def test_a_correction_that_is_still_wrong_is_rejected_again_with_the_new_problems(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    first = rejection(handle(service, order_submit(currency="SEK"), uow))
    tokenless = order_submit(payment=PaymentInstruction(method=PaymentMethod.CARD))

    second = rejection(handle(service, tokenless, uow))

    assert [problem.field for problem in second.problems] == ["payment.token"]
    assert (second.order_id, first.attempt, second.attempt) == (first.order_id, 1, 2)
    assert order_of(uow, first.order_id).problems == second.problems


# -- submissions that fail their schema -----------------------------------------------------


def test_a_submission_failing_its_schema_is_rejected_with_every_schema_problem(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    data = order_submit().model_dump(mode="json")
    data["lines"][0]["quantity"] = 0
    data["currency"] = "euro"
    envelope = submit_envelope(data)

    rejected = rejection(handle_invalid(service, envelope, schema_failure(envelope), uow))

    assert [problem.field for problem in rejected.problems] == ["lines[0].quantity", "currency"]
    assert (rejected.channel, rejected.external_id) == ("web", "WEB-1001")
    assert rejected.customer is not None and rejected.customer.email == "ada@example.com"


@pytest.mark.parametrize(
    ("customer", "contact"),
    [
        ({"name": "", "email": "ivan@example.com", "language": "ru"}, ("ivan@example.com", "ru")),
        (
            {"name": "Ivan", "email": "ivan@example.com", "language": "de"},
            ("ivan@example.com", "en"),
        ),
        ({"email": "ivan@example.com"}, ("ivan@example.com", "en")),
        ({"name": "Ivan", "email": "ivan(at)example", "language": "ru"}, None),
    ],
    ids=["bad name", "bad language", "no name", "bad address"],
)
def test_a_rejection_whose_customer_is_invalid_names_its_address_if_that_is_valid(
    service: Service,
    customer: dict[str, str],
    contact: tuple[str, str] | None,
    uow: IntakeUnitOfWork,
) -> None:
    data = order_submit().model_dump(mode="json")
    data["customer"] = customer
    envelope = submit_envelope(data)

    rejected = rejection(handle_invalid(service, envelope, schema_failure(envelope), uow))

    assert rejected.customer is None
    told = rejected.contact
    assert (told.email, told.language) == contact if told else contact is None


def test_the_runtime_calls_the_invalid_submission_handler_with_envelope_and_problem(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    envelope = submit_envelope({"channel": "web", "external_id": "WEB-1001"})

    rejected = rejection(
        service.invalid_handlers[OrderSubmit](envelope, schema_failure(envelope), uow)
    )

    fields = {problem.field for problem in rejected.problems}
    assert fields == {"customer", "lines", "currency", "delivery", "payment"}
    assert rejected.customer is None


def test_a_valid_correction_of_a_schema_failure_keeps_the_order_id(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    envelope = submit_envelope({"channel": "web", "external_id": "WEB-1001", "lines": []})
    rejected = rejection(handle_invalid(service, envelope, schema_failure(envelope), uow))

    [placed] = handle(service, order_submit(), uow)

    assert isinstance(placed, OrderPlaced)
    assert placed.order_id == rejected.order_id


def test_a_schema_failure_repeating_a_placed_order_changes_nothing(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    placed = place(service, uow)
    envelope = submit_envelope({"channel": "web", "external_id": "WEB-1001"})

    assert handle_invalid(service, envelope, schema_failure(envelope), uow) == []
    assert order_of(uow, placed.order_id).status == "placed"


def test_a_schema_failure_without_a_usable_reference_is_known_by_its_envelope_id(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    envelope = submit_envelope({"channel": "web", "external_id": ""}, subject="web:unknown")
    rejected = rejection(handle_invalid(service, envelope, schema_failure(envelope), uow))
    another = submit_envelope({"channel": "fax"}, subject="web:unknown", message_id="msg-2")

    other = rejection(handle_invalid(service, another, schema_failure(another), uow))

    assert (rejected.channel, rejected.external_id) == ("web", "msg-submit-1")
    assert (other.channel, other.external_id) == ("unknown", "msg-2")
    assert other.order_id != rejected.order_id
    assert {"channel", "external_id"} <= {problem.field for problem in other.problems}


def test_a_submission_sent_with_a_wrong_content_type_is_rejected_under_its_own_reference(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    """The runtime (``shared.inbound.admit``) reports the content type as a problem of the
    submission; the channel hears of it as it hears of any other."""
    envelope = submit_envelope(order_submit().model_dump(mode="json"))
    wrong = "application/xml is not accepted; accepted: application/cloudevents+json"
    problem = InvalidMessage(f"(content_type): {wrong}", envelope, [("(content_type)", wrong)])

    rejected = rejection(handle_invalid(service, envelope, problem, uow))

    assert rejected.problems == [Problem(field="(content_type)", message=wrong)]
    assert (rejected.channel, rejected.external_id) == ("web", "WEB-1001")
    assert rejected.customer is not None and rejected.customer.email == "ada@example.com"


# -- cancellations --------------------------------------------------------------------------


def test_stock_unavailable_cancels_an_open_order_as_out_of_stock(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    placed = place(service, uow)

    [event] = handle(service, out_of_stock(placed.order_id), uow)

    assert event == OrderCancelled(
        order_id=placed.order_id, reason="out_of_stock", channel=placed.channel
    )
    order = order_of(uow, placed.order_id)
    assert (order.status, order.cancel_reason) == ("cancelled", "out_of_stock")
    assert handle(service, out_of_stock(placed.order_id), uow) == []


def test_a_failed_payment_cancels_an_open_order(service: Service, uow: IntakeUnitOfWork) -> None:
    placed = place(service, uow)

    [event] = handle(service, payment_failed(placed.order_id), uow)

    assert event == OrderCancelled(
        order_id=placed.order_id, reason="payment_failed", detail="declined", channel="web"
    )
    assert handle(service, payment_failed(placed.order_id), uow) == []


def test_the_first_cancellation_reason_wins(service: Service, uow: IntakeUnitOfWork) -> None:
    placed = place(service, uow)
    handle(service, out_of_stock(placed.order_id), uow)

    assert handle(service, payment_failed(placed.order_id), uow) == []
    assert order_of(uow, placed.order_id).cancel_reason == "out_of_stock"


def test_events_about_an_unknown_order_do_nothing(service: Service, uow: IntakeUnitOfWork) -> None:
    assert handle(service, out_of_stock("ord_nope"), uow) == []
    assert handle(service, payment_failed("ord_nope"), uow) == []
    assert deliver(service, uow, "ord_nope") == []
    assert handle(service, OrderCompletionDue(order_id="ord_nope"), uow) == []


# -- delivery and completion ----------------------------------------------------------------


def test_delivery_schedules_completion_after_the_complaint_window(
    service: Service, uow: IntakeUnitOfWork, clock: ManualClock
) -> None:
    placed = place(service, uow)

    [timer] = deliver(service, uow, placed.order_id)

    assert timer == Scheduled(
        OrderCompletionDue(order_id=placed.order_id), clock.now() + timedelta(days=14)
    )
    order = order_of(uow, placed.order_id)
    assert (order.status, order.delivered_at) == ("delivered", DELIVERED_AT)
    assert deliver(service, uow, placed.order_id) == []


def test_the_completion_timer_completes_a_delivered_order_once(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    placed = place(service, uow)
    deliver(service, uow, placed.order_id)
    timer = OrderCompletionDue(order_id=placed.order_id)

    assert handle(service, timer, uow) == [
        OrderCompleted(order_id=placed.order_id, channel=placed.channel)
    ]
    assert handle(service, timer, uow) == []
    assert order_of(uow, placed.order_id).status == "completed"


def test_the_completion_timer_leaves_an_undelivered_order_alone(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    placed = place(service, uow)

    assert handle(service, OrderCompletionDue(order_id=placed.order_id), uow) == []
    assert order_of(uow, placed.order_id).status == "placed"


def test_late_events_leave_a_terminal_order_alone(service: Service, uow: IntakeUnitOfWork) -> None:
    placed = place(service, uow)
    deliver(service, uow, placed.order_id)
    handle(service, OrderCompletionDue(order_id=placed.order_id), uow)

    assert handle(service, payment_failed(placed.order_id), uow) == []
    assert handle(service, out_of_stock(placed.order_id), uow) == []
    assert deliver(service, uow, placed.order_id) == []
    order = order_of(uow, placed.order_id)
    assert (order.status, order.terminal) == ("completed", True)


def test_a_delivery_after_a_cancellation_does_not_reopen_the_order(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    placed = place(service, uow)
    handle(service, payment_failed(placed.order_id), uow)

    assert deliver(service, uow, placed.order_id) == []
    assert order_of(uow, placed.order_id).status == "cancelled"


# -- reads for the CLI ----------------------------------------------------------------------


def test_the_store_lists_recent_orders_and_counts_them_by_status(
    service: Service, uow: IntakeUnitOfWork, clock: ManualClock
) -> None:
    first = place(service, uow)
    clock.advance(timedelta(minutes=1))
    handle(service, order_submit(external_id="WEB-1002", currency="SEK"), uow)

    recent = uow.orders.recent()

    assert [order.external_id for order in recent] == ["WEB-1002", "WEB-1001"]
    assert [order.id for order in uow.orders.recent(status="placed")] == [first.order_id]
    assert uow.orders.counts_by_status() == {"placed": 1, "rejected": 1}
    assert recent[1].total == 2995


# -- batches --------------------------------------------------------------------------------


def saga_events(order_id: str, n: int) -> list[Message]:
    """What an order may hear in one batch: it waits, its address changes, then it ends one of
    the ways the saga ends it (the n-th, in turn), and a duplicate of that ending follows."""
    at = DELIVERED_AT
    endings: list[Message] = [
        payment_failed(order_id),
        out_of_stock(order_id),
        PaymentExpired(order_id=order_id, payment_id="pay-1", method=PaymentMethod.BANK_TRANSFER),
        StockBackorderExpired(order_id=order_id),
        FulfillmentCancelled(order_id=order_id, reason="changed my mind"),
        ShipmentReturned(
            order_id=order_id, shipment_id="s", tracking_number="T", returned_at=at, attempts=3
        ),
        ShipmentDelivered(order_id=order_id, shipment_id="s", tracking_number="T", delivered_at=at),
    ]
    ending = endings[n % len(endings)]
    return [
        StockBackordered(order_id=order_id, lines=[], expected_on=at.date(), expires_on=at.date()),
        PaymentPending(
            order_id=order_id,
            payment_id="pay-1",
            method=PaymentMethod.BANK_TRANSFER,
            amount_due=Money(amount=2995, currency="EUR"),
            received=Money(amount=0, currency="EUR"),
            deadline=at,
            reference="pay-1",
        ),
        ShipmentAddressChanged(
            order_id=order_id,
            address=Address(line1="2 Side St", city="Hamburg", postal_code="20095", country="DE"),
        ),
        ending,
        ending,
    ]


def test_a_batch_costs_the_same_few_selects_however_many_orders_it_holds(
    service: Service,
    session_for: Callable[[Service], Session],
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    """Events name orders by id, submissions by key: known orders, repeated ones and new ones;
    every kind of event intake hears, and a completion timer for an order delivered before.
    The catalogue is one more: which SKUs the submissions order are listed, a SKU listed in
    the same batch included."""

    def selects_for(orders: int) -> int:
        earlier = session_for(service)
        listed(service, IntakeUnitOfWork(earlier))
        order_ids = []
        for n in range(orders // 2):
            submit = order_submit(external_id=f"WEB-{n:02}")
            [placed] = handle(service, submit, IntakeUnitOfWork(earlier))
            assert isinstance(placed, OrderPlaced)
            order_ids.append(placed.order_id)
        delivered_before = order_ids[-1]
        deliver(service, IntakeUnitOfWork(earlier), delivered_before)
        earlier.commit()
        messages: list[Message] = [
            event for n, order_id in enumerate(order_ids[:-1]) for event in saga_events(order_id, n)
        ]
        messages.append(OrderCompletionDue(order_id=delivered_before))
        messages += [order_submit(external_id=f"WEB-{n:02}") for n in range(orders)]
        messages += [StockItemListed(sku="CUP-RED"), StockItemListed(sku="MUG-BLUE")]
        messages.append(order_submit(external_id="WEB-RED", lines=[red_cup]))

        session = Session(earlier.get_bind(), expire_on_commit=False)
        uow = IntakeUnitOfWork(session)
        counter = count_queries(session)
        uow.preload(messages)
        announced = [e for m in messages for e in service.handlers[type(m)](m, uow)]
        session.commit()
        selects = counter.selects
        session.close()

        ended = [order_id for n, order_id in enumerate(order_ids[:-1]) if n % 7 != 6]
        assert [e.order_id for e in announced if isinstance(e, OrderCancelled)] == ended
        assert [e.order_id for e in announced if isinstance(e, OrderCompleted)] == [
            delivered_before
        ]
        assert sum(isinstance(e, OrderPlaced) for e in announced) == orders - len(order_ids) + 1
        return selects

    red_cup = OrderLine(sku="CUP-RED", quantity=1, unit_price=900)
    assert selects_for(30) == selects_for(4) <= 4
