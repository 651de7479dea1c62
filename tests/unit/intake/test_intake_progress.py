"""Intake as the saga goes on, as a specification: an order waits in a named state, is cancelled
once for the first reason, keeps the address shipping delivers to; late events do nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from services.intake.bootstrap import bootstrap
from services.intake.model import Order
from services.intake.store import IntakeUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Address,
    BackorderedLine,
    FulfillmentCancelled,
    Message,
    Money,
    OrderCancelled,
    OrderCompletionDue,
    OrderPlaced,
    OrderSubmit,
    PaymentCaptured,
    PaymentExpired,
    PaymentFailed,
    PaymentPending,
    ShipmentAddressChanged,
    ShipmentDelivered,
    ShipmentReturned,
    StockBackordered,
    StockBackorderExpired,
    StockReserved,
    StockUnavailable,
)
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_submit
from tests.unit.conftest import handle, listed

AT = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
NEW_ADDRESS = Address(line1="2 Side St", city="Hamburg", postal_code="20095", country="DE")
Event = Callable[[str], Message]


@pytest.fixture
def service(clock: ManualClock) -> Service:
    return bootstrap(clock)


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> IntakeUnitOfWork:
    """Intake's unit of work; stock has listed the SKU the factories order."""
    return listed(service, IntakeUnitOfWork(session_for(service)))


@pytest.fixture
def place(service: Service, uow: IntakeUnitOfWork) -> Callable[[], Order]:
    def placed() -> Order:
        [event] = handle(service, order_submit(), uow)
        assert isinstance(event, OrderPlaced)
        order = uow.orders.get(event.order_id)
        assert order is not None and order.status == "placed"
        return order

    return placed


def backordered(order_id: str) -> StockBackordered:
    line = BackorderedLine(
        sku="MUG-BLUE", quantity=2, purchase_order_id="po-1", expected_on=date(2026, 3, 9)
    )
    return StockBackordered(
        order_id=order_id, lines=[line], expected_on=line.expected_on, expires_on=date(2026, 3, 23)
    )


def pending(order_id: str, received: int = 0) -> PaymentPending:
    return PaymentPending(
        order_id=order_id,
        payment_id="pay-1",
        method="bank_transfer",
        amount_due=Money(amount=2995, currency="EUR"),
        received=Money(amount=received, currency="EUR"),
        deadline=AT,
        reference="pay-1",
    )


def delivered(order_id: str) -> ShipmentDelivered:
    return ShipmentDelivered(
        order_id=order_id, shipment_id="shp-1", tracking_number="TRK1", delivered_at=AT
    )


def returned(order_id: str) -> ShipmentReturned:
    return ShipmentReturned(
        order_id=order_id, shipment_id="shp-1", tracking_number="TRK1", returned_at=AT, attempts=3
    )


def address_changed(order_id: str, pickup_point_id: str | None = None) -> ShipmentAddressChanged:
    return ShipmentAddressChanged(
        order_id=order_id, address=NEW_ADDRESS, pickup_point_id=pickup_point_id
    )


# -- subscriptions --------------------------------------------------------------------------


def test_intake_hears_what_moves_the_order_and_no_more(service: Service) -> None:
    """Leaving a waiting state is inferred from the next event, so the two busiest events of
    the saga, stock.reserved and payment.captured, never reach intake's queue."""
    assert {c.type for c in service.subscriptions} == {
        "order.submit",
        "stock.backordered",
        "payment.pending",
        "stock.unavailable",
        "stock.backorder_expired",
        "payment.failed",
        "payment.expired",
        "fulfillment.cancelled",
        "shipment.address_changed",
        "shipment.delivered",
        "shipment.returned",
        "order.completion_due",
        "return.authorized",
        "replacement.requested",
        "aftersales.case_closed",
        "stock.item_listed",  # the catalogue submissions are judged against
        "order.review",  # a reviewer's decision on a held order
        "order.review_due",  # the review timer's
    }
    assert StockReserved not in service.handlers and PaymentCaptured not in service.handlers


# -- waiting states -------------------------------------------------------------------------


def test_a_backordered_order_waits_for_stock(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    order = place()

    assert handle(service, backordered(order.id), uow) == []

    assert (order.status, order.waiting, order.terminal) == ("backordered", True, False)
    assert handle(service, backordered(order.id), uow) == []
    assert order.status == "backordered"


def test_an_order_waiting_for_a_transfer_is_awaiting_payment(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    order = place()

    assert handle(service, pending(order.id), uow) == []

    assert (order.status, order.waiting) == ("awaiting_payment", True)
    assert handle(service, pending(order.id, received=1000), uow) == []
    assert order.status == "awaiting_payment"


def test_a_pending_payment_ends_the_backorder_since_payment_waits_for_reserved_stock(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    order = place()
    handle(service, backordered(order.id), uow)

    handle(service, pending(order.id), uow)

    assert order.status == "awaiting_payment"


def test_a_late_backorder_does_not_take_an_order_back_from_awaiting_payment(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    order = place()
    handle(service, pending(order.id), uow)

    assert handle(service, backordered(order.id), uow) == []
    assert order.status == "awaiting_payment"


@pytest.mark.parametrize("waiting_on", [backordered, pending], ids=["backordered", "pending"])
def test_a_delivery_proves_a_waiting_order_moved_on(
    waiting_on: Event, service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    order = place()
    handle(service, waiting_on(order.id), uow)

    [timer] = handle(service, delivered(order.id), uow)

    assert isinstance(timer, Scheduled) and isinstance(timer.message, OrderCompletionDue)
    assert (order.status, order.waiting) == ("delivered", False)


@pytest.mark.parametrize("waiting_on", [backordered, pending], ids=["backordered", "pending"])
def test_waiting_events_after_delivery_or_cancellation_do_nothing(
    waiting_on: Event, service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    shipped, cancelled = place(), place_another(service, uow)
    handle(service, delivered(shipped.id), uow)
    handle(service, failed(cancelled.id), uow)

    assert handle(service, waiting_on(shipped.id), uow) == []
    assert handle(service, waiting_on(cancelled.id), uow) == []
    assert (shipped.status, cancelled.status) == ("delivered", "cancelled")


def test_events_that_need_no_answer_about_an_unknown_order_do_nothing(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    for event in (backordered("ord_nope"), pending("ord_nope"), address_changed("ord_nope")):
        assert handle(service, event, uow) == []
    assert uow.orders.counts_by_status() == {}


# -- cancellations --------------------------------------------------------------------------


def failed(order_id: str) -> PaymentFailed:
    return PaymentFailed(order_id=order_id, payment_id="pay-1", method="card", reason="declined")


def place_another(service: Service, uow: IntakeUnitOfWork) -> Order:
    """A second order: the same submission from another channel."""
    [event] = handle(service, order_submit(channel="pos"), uow)
    assert isinstance(event, OrderPlaced)
    order = uow.orders.get(event.order_id)
    assert order is not None
    return order


CANCELLATIONS: list[tuple[Event, str, str]] = [
    (lambda o: StockUnavailable(order_id=o, shortages=[]), "out_of_stock", ""),
    (failed, "payment_failed", "declined"),
    (
        lambda o: PaymentExpired(order_id=o, payment_id="pay-1", method="escrow"),
        "payment_expired",
        "",
    ),
    (lambda o: StockBackorderExpired(order_id=o), "backorder_expired", ""),
    (
        lambda o: FulfillmentCancelled(order_id=o, reason="found it cheaper elsewhere"),
        "customer_cancelled",
        "found it cheaper elsewhere",
    ),
    (returned, "delivery_failed", "returned to sender after 3 delivery attempts"),
]
CANCELLATION_IDS = [reason for _event, reason, _detail in CANCELLATIONS]


@pytest.mark.parametrize(("event", "reason", "detail"), CANCELLATIONS, ids=CANCELLATION_IDS)
def test_an_open_order_is_cancelled_once_with_the_reason_of_what_ended_it(
    event: Event,
    reason: str,
    detail: str,
    service: Service,
    uow: IntakeUnitOfWork,
    place: Callable[[], Order],
) -> None:
    order = place()

    assert handle(service, event(order.id), uow) == [
        OrderCancelled(order_id=order.id, reason=reason, detail=detail, channel=order.channel)
    ]
    assert (order.status, order.cancel_reason, order.terminal) == ("cancelled", reason, True)
    assert handle(service, event(order.id), uow) == []


@pytest.mark.parametrize(
    ("waiting_on", "ending"),
    [
        (backordered, lambda o: StockBackorderExpired(order_id=o)),
        (pending, lambda o: PaymentExpired(order_id=o, payment_id="pay-1", method="bank_transfer")),
        (backordered, lambda o: FulfillmentCancelled(order_id=o, reason="too slow")),
        (pending, lambda o: FulfillmentCancelled(order_id=o, reason="changed my mind")),
    ],
    ids=["backorder-expired", "payment-expired", "backordered-cancel", "awaiting-payment-cancel"],
)
def test_a_waiting_order_can_be_cancelled(
    waiting_on: Event,
    ending: Event,
    service: Service,
    uow: IntakeUnitOfWork,
    place: Callable[[], Order],
) -> None:
    order = place()
    handle(service, waiting_on(order.id), uow)

    [cancelled] = handle(service, ending(order.id), uow)

    assert isinstance(cancelled, OrderCancelled)
    assert order.status == "cancelled"


def test_a_returned_shipment_cancels_the_order_after_an_earlier_cancel_was_refused(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    """The warehouse refused the cancel (already packed), so only the return ends the order."""
    order = place()

    [cancelled] = handle(service, returned(order.id), uow)

    assert isinstance(cancelled, OrderCancelled) and cancelled.reason == "delivery_failed"


@pytest.mark.parametrize(("event", "_reason", "_detail"), CANCELLATIONS, ids=CANCELLATION_IDS)
def test_a_cancelling_event_after_delivery_does_nothing(
    event: Event,
    _reason: str,
    _detail: str,
    service: Service,
    uow: IntakeUnitOfWork,
    place: Callable[[], Order],
) -> None:
    order = place()
    handle(service, delivered(order.id), uow)

    assert handle(service, event(order.id), uow) == []
    assert order.status == "delivered"


def test_a_cancelled_order_is_not_cancelled_again_for_another_reason(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    order = place()
    handle(service, FulfillmentCancelled(order_id=order.id, reason="changed my mind"), uow)

    assert handle(service, failed(order.id), uow) == []
    assert handle(service, returned(order.id), uow) == []
    assert order.cancel_reason == "customer_cancelled"


@pytest.mark.parametrize(("event", "_reason", "_detail"), CANCELLATIONS, ids=CANCELLATION_IDS)
def test_a_cancelling_event_about_an_unknown_order_does_nothing(
    event: Event, _reason: str, _detail: str, service: Service, uow: IntakeUnitOfWork
) -> None:
    assert handle(service, event("ord_nope"), uow) == []


# -- the delivery address -------------------------------------------------------------------


def test_a_changed_address_is_kept_as_the_order_s_delivery_address(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order], clock: ManualClock
) -> None:
    order = place()
    clock.advance(timedelta(hours=1))

    assert handle(service, address_changed(order.id), uow) == []

    assert order.delivery is not None
    assert order.delivery.address == NEW_ADDRESS
    assert (order.delivery.option, order.delivery.pickup_point_id) == ("standard", None)
    assert order.updated_at == clock.now()


def test_a_changed_pickup_point_is_kept_too(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    order = place()

    handle(service, address_changed(order.id, pickup_point_id="PP-9"), uow)

    assert order.delivery is not None and order.delivery.pickup_point_id == "PP-9"


def test_the_same_address_change_again_changes_nothing(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order], clock: ManualClock
) -> None:
    order = place()
    handle(service, address_changed(order.id), uow)
    changed_at = order.updated_at
    clock.advance(timedelta(hours=1))

    assert handle(service, address_changed(order.id), uow) == []
    assert order.updated_at == changed_at


def test_an_address_change_leaves_the_status_alone(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    order = place()
    handle(service, backordered(order.id), uow)

    handle(service, address_changed(order.id), uow)

    assert order.status == "backordered"


def test_a_submission_under_the_same_key_after_cancellation_places_nothing(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    order = place()
    handle(service, failed(order.id), uow)

    assert list(service.handlers[OrderSubmit](order_submit(), uow)) == []
    assert uow.orders.counts_by_status() == {"cancelled": 1}


def test_after_a_payment_expiry_every_other_ending_is_late_and_does_nothing(
    service: Service, uow: IntakeUnitOfWork, place: Callable[[], Order]
) -> None:
    order = place()

    assert handle(service, backordered(order.id), uow) == []
    assert handle(service, pending(order.id), uow) == []
    assert handle(service, address_changed(order.id), uow) == []
    [cancelled] = handle(
        service, PaymentExpired(order_id=order.id, payment_id="pay-1", method="bank_transfer"), uow
    )
    assert cancelled == OrderCancelled(
        order_id=order.id, reason="payment_expired", channel=order.channel
    )
    for late in (
        handle(service, StockUnavailable(order_id=order.id, shortages=[]), uow),
        handle(service, StockBackorderExpired(order_id=order.id), uow),
        handle(service, failed(order.id), uow),
        handle(service, FulfillmentCancelled(order_id=order.id, reason="x"), uow),
        handle(service, returned(order.id), uow),
        handle(service, delivered(order.id), uow),
    ):
        assert late == []
