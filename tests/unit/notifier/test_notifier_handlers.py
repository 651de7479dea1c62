# ruff: noqa: RUF001 (Russian, Ukrainian and Chinese text)
"""Notifier, as a specification: each customer-visible event becomes one message in the
customer's language, rendered in the handler's transaction and left pending for the courier
(which sends it after the commit: see test_notifier_delivery)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from jinja2 import Environment
from sqlalchemy.orm import Session

from services.notifier.bootstrap import bootstrap
from services.notifier.model import Notification
from services.notifier.rendering import BUNDLED_TEMPLATES, make_environment, render
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Address,
    CancelReason,
    Contact,
    Customer,
    Delivery,
    DeliveryOption,
    Message,
    Money,
    OrderCancelled,
    OrderMessage,
    OrderPlaced,
    OrderRejected,
    PaymentPending,
    PaymentRefunded,
    PaymentReminder,
    Problem,
    ShipmentAddressChanged,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
)
from shared.service import Service
from tests.factories import ADA, order_placed
from tests.notifier_support import every_event, replacement_of
from tests.unit.conftest import QueryCounter, handle

EVENTS = every_event()
LANGUAGES = ["en", "ru", "uk", "zh"]


@pytest.fixture
def service(clock: ManualClock, tmp_path: Path) -> Service:
    return bootstrap(clock, NotifierSettings(maildir=tmp_path / "mail"))


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> NotifierUnitOfWork:
    return NotifierUnitOfWork(session_for(service))


@pytest.fixture
def templates() -> Environment:
    return make_environment()


@pytest.fixture
def tell(service: Service, uow: NotifierUnitOfWork) -> Callable[[Message], list[Message]]:
    """Hand an event to the notifier's handler table, as the runtime does."""

    def handle(event: Message) -> list[Message]:
        return list(service.handlers[type(event)](event, uow))

    return handle


Tell = Callable[[Message], list[Message]]
RECIPIENT_CONTEXT = {
    "recipient": {"name": "Ada"},
    "order_number": "WEB-1001",
    "promised_delivery": None,
    "replacement": None,
}


LONDON = Delivery(
    option=DeliveryOption.STANDARD,
    address=Address(line1="1 Strand", city="London", postal_code="WC2N 5HR", country="GB"),
)
"""English in Britain writes €29.95 and 7 March 2026."""


def rejected(customer: Customer | None = ADA, attempt: int = 1) -> OrderRejected:
    return OrderRejected(
        order_id="ord-1",
        channel="web",
        external_id="WEB-1001",
        problems=[
            Problem(field="lines[1].sku", message="MUG-BLUE is already on lines[0]"),
            Problem(field="payment.method", message="escrow is only for marketplace orders"),
        ],
        customer=customer,
        attempt=attempt,
    )


def dispatched(shipment_id: str = "shp-1") -> ShipmentDispatched:
    event = EVENTS["shipment.dispatched"]
    assert isinstance(event, ShipmentDispatched)
    return event.model_copy(
        update={"shipment_id": shipment_id, "tracking_number": f"TRK-{shipment_id}"}
    )


def about(uow: NotifierUnitOfWork, about: str, order_id: str = "ord-1") -> list[Notification]:
    return [n for n in uow.notifications.for_order(order_id) if n.about == about]


def only(uow: NotifierUnitOfWork, what: str) -> Notification:
    [notification] = about(uow, what)
    return notification


def queued(uow: NotifierUnitOfWork, what: str) -> Notification:
    """The one notification about ``what``, rendered and waiting for the courier."""
    notification = only(uow, what)
    assert notification.status == "pending"
    assert notification.subject and notification.body
    return notification


# -- what the notifier hears ----------------------------------------------------------------


def test_the_notifier_hears_every_customer_visible_event(service: Service) -> None:
    assert (
        {c.type for c in service.subscriptions}
        == set(EVENTS)
        == {
            "order.placed",
            "order.rejected",
            "order.cancelled",
            "stock.backordered",
            "payment.pending",
            "payment.reminder",
            "payment.refunded",
            "fulfillment.cancel_refused",
            "shipment.dispatched",
            "shipment.delivered",
            "shipment.delivery_failed",
            "shipment.returned",
            "shipment.address_changed",
            "shipment.address_change_refused",
            "aftersales.request_refused",
            "return.authorized",
            "return.received",
            "return.expired",
            "replacement.requested",
        }
    )


def test_sending_is_left_to_the_courier_after_the_commit(service: Service) -> None:
    assert service.after_commit is not None


# -- order received -------------------------------------------------------------------------


def test_a_placed_order_is_confirmed_with_its_lines_total_and_expected_delivery(
    uow: NotifierUnitOfWork, clock: ManualClock, tell: Tell
) -> None:
    assert tell(order_placed(delivery=LONDON, expected_delivery=date(2026, 3, 7))) == []

    notification = queued(uow, "order.placed")
    assert (notification.email, notification.language) == ("ada@example.com", "en")
    assert (notification.queued_at, notification.sent_at) == (clock.now(), None)
    assert notification.subject == "We have received your order WEB-1001"
    assert notification.body is not None
    assert "Hello Ada Lovelace," in notification.body
    assert "2 x MUG-BLUE at €12.50" in notification.body
    assert "Total:    €29.95" in notification.body
    assert "Expected delivery: 7 March 2026" in notification.body


def test_a_confirmation_without_an_estimate_leaves_the_expected_delivery_out(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(delivery=LONDON))

    assert "Expected delivery" not in (queued(uow, "order.placed").body or "")


def test_an_event_is_recorded_once_however_often_it_arrives(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    def recorded() -> int:
        return sum(len(uow.notifications.for_order(o)) for o in ("ord-1", replacement_of("ord-1")))

    for event in EVENTS.values():
        tell(event)
    first = recorded()

    for event in EVENTS.values():
        assert tell(event) == []

    assert first == recorded() == len(EVENTS)


def test_a_notification_keeps_neither_contact_nor_payment_data_in_its_context(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(delivery=LONDON))

    context = only(uow, "order.placed").context
    assert "payment" not in context and "customer" not in context


# -- rejections -----------------------------------------------------------------------------


def test_a_rejection_tells_the_customer_every_problem(
    service: Service, uow: NotifierUnitOfWork
) -> None:
    assert handle(service, rejected(), uow) == []

    notification = queued(uow, "order.rejected")
    assert notification.subject == "We could not accept your order WEB-1001"
    assert notification.email == "ada@example.com"
    assert "- lines[1].sku: MUG-BLUE is already on lines[0]" in (notification.body or "")
    assert "- payment.method: escrow is only for marketplace orders" in (notification.body or "")


def test_a_rejection_naming_no_customer_is_kept_as_undeliverable(
    service: Service, uow: NotifierUnitOfWork
) -> None:
    handle(service, rejected(customer=None), uow)

    notification = only(uow, "order.rejected")
    assert notification.status == "undeliverable"
    assert (
        notification.reason == "the rejected submission named no valid e-mail address to write to"
    )


@pytest.mark.parametrize(
    ("language", "greeting"),
    [("en", "Hello,"), ("ru", "Здравствуйте!"), ("uk", "Вітаємо!"), ("zh", "您好！")],
)
def test_a_rejection_whose_customer_is_invalid_but_its_address_valid_is_told_there(
    service: Service, language: str, greeting: str, uow: NotifierUnitOfWork
) -> None:
    contact = Contact(email="ivan@example.com", language=language)
    event = rejected(customer=None).model_copy(update={"contact": contact})

    handle(service, event, uow)

    notification = queued(uow, "order.rejected")
    assert (notification.email, notification.language) == ("ivan@example.com", language)
    assert (notification.body or "").startswith(f"{greeting}\n")
    assert "WEB-1001" in (notification.subject or "")


def test_each_rejected_attempt_is_told(uow: NotifierUnitOfWork, tell: Tell) -> None:
    tell(rejected(attempt=1))
    tell(rejected(attempt=2))
    tell(rejected(attempt=2))

    assert [n.status for n in about(uow, "order.rejected")] == ["pending", "pending"]


def test_a_rejection_arriving_after_its_correction_was_placed_is_not_sent(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(delivery=LONDON))
    tell(rejected())

    assert only(uow, "order.rejected").status == "superseded"


# -- cancellations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "because"),
    [
        ("out_of_stock", "because some of its items are out of stock."),
        ("payment_failed", "because the payment did not go through."),
        ("payment_expired", "because we did not receive the payment before the deadline."),
        ("backorder_expired", "because the items we had ordered for you did not arrive in time."),
        ("delivery_failed", "because the parcel could not be delivered and came back to us."),
        ("review_rejected", "because we could not approve it after reviewing it."),
        ("fraud_suspected", "because fraud suspected."),
    ],
)
def test_a_cancellation_says_why(
    reason: str, because: str, uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(delivery=LONDON))

    assert tell(OrderCancelled(order_id="ord-1", reason=reason)) == []

    notification = queued(uow, "order.cancelled")
    assert notification.subject == "Your order WEB-1001 has been cancelled"
    assert because in (notification.body or "")


@pytest.mark.parametrize("language", ["en", "ru", "uk", "zh"])
def test_every_cancel_reason_intake_gives_is_said_in_every_language(language: str) -> None:
    template = BUNDLED_TEMPLATES / language / "order.cancelled.txt.j2"
    said = set(re.findall(r'^    "(\w+)": ', template.read_text(), flags=re.MULTILINE))

    assert said == {reason.value for reason in CancelReason} - {"customer_cancelled"}


def test_a_cancellation_the_customer_asked_for_says_so(uow: NotifierUnitOfWork, tell: Tell) -> None:
    tell(order_placed(delivery=LONDON))

    tell(OrderCancelled(order_id="ord-1", reason="customer_cancelled", detail="too slow"))

    assert "as you asked, we have cancelled your order WEB-1001." in (
        queued(uow, "order.cancelled").body or ""
    )


def test_a_cancel_that_came_too_late_offers_a_return(uow: NotifierUnitOfWork, tell: Tell) -> None:
    tell(order_placed(delivery=LONDON))

    tell(EVENTS["fulfillment.cancel_refused"])

    notification = queued(uow, "fulfillment.cancel_refused")
    assert notification.subject == "We could not cancel your order WEB-1001"
    assert "too late to cancel it" in (notification.body or "")
    assert "You can return it after delivery" in (notification.body or "")


# -- waiting: backorders and payments -------------------------------------------------------


def test_a_backorder_tells_the_delay_and_the_expected_date(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(delivery=LONDON))

    tell(EVENTS["stock.backordered"])

    notification = queued(uow, "stock.backordered")
    assert notification.subject == "Your order WEB-1001 will take a little longer"
    assert "expect them by 9 March 2026:" in (notification.body or "")
    assert "  2 x MUG-BLUE" in (notification.body or "")
    assert "not arrived by 23 March 2026, we will cancel" in (notification.body or "")


def test_a_pending_transfer_tells_the_reference_amount_and_deadline(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(delivery=LONDON))

    tell(EVENTS["payment.pending"])

    notification = queued(uow, "payment.pending")
    body = notification.body or ""
    assert notification.subject == "Please pay for your order WEB-1001"
    assert "Still to pay: €29.95" in body
    assert "Reference:    pay-1" in body
    assert "Pay by:       9 March 2026" in body
    assert "bank transfer" in body


def pending(received: int) -> PaymentPending:
    event = EVENTS["payment.pending"]
    assert isinstance(event, PaymentPending)
    return event.model_copy(update={"received": Money(amount=received, currency="EUR")})


def test_each_part_of_a_transfer_that_arrives_is_told_once_with_the_balance(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(delivery=LONDON))
    tell(pending(0))

    tell(pending(1000))
    tell(pending(1000))

    first, part = about(uow, "payment.pending")
    assert part.subject == "We have received part of your payment for order WEB-1001"
    assert "received €10.00 of €29.95" in (part.body or "")
    assert "Still to pay: €19.95" in (part.body or "")
    assert first.subject == "Please pay for your order WEB-1001"


def test_each_payment_reminder_is_told_once(uow: NotifierUnitOfWork, tell: Tell) -> None:
    tell(order_placed(delivery=LONDON))
    reminder = EVENTS["payment.reminder"]
    assert isinstance(reminder, PaymentReminder)

    for number in (1, 2, 2):
        tell(reminder.model_copy(update={"number": number}))

    reminders = about(uow, "payment.reminder")
    assert [n.reference for n in reminders] == ["reminder-1", "reminder-2"]
    assert reminders[0].subject == "Reminder: your order WEB-1001 is waiting for payment"


def test_each_refund_is_told_once_with_its_amount_and_reason(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(delivery=LONDON))
    refund = EVENTS["payment.refunded"]
    assert isinstance(refund, PaymentRefunded)
    excess = refund.model_copy(
        update={
            "refund_id": "rf_pay-1:overpayment",
            "amount": Money(amount=500, currency="EUR"),
            "reason": "overpayment",
        }
    )

    for event in (refund, excess, excess):
        tell(event)

    cancelled, overpaid = about(uow, "payment.refunded")
    assert cancelled.subject == "We have refunded €29.95 for your order WEB-1001"
    assert "because your order was cancelled." in (cancelled.body or "")
    assert "because you paid more than the order total." in (overpaid.body or "")


# -- shipping -------------------------------------------------------------------------------


def test_a_dispatch_gives_the_carrier_tracking_number_and_expected_delivery(
    service: Service, uow: NotifierUnitOfWork
) -> None:
    handle(service, order_placed(delivery=LONDON), uow)

    assert handle(service, dispatched(), uow) == []

    body = queued(uow, "shipment.dispatched").body or ""
    assert "with DHL (express)" in body
    assert "Tracking number:   TRK-shp-1" in body
    assert "Expected delivery: 5 March 2026" in body


def test_each_shipment_of_an_order_is_told(uow: NotifierUnitOfWork, tell: Tell) -> None:
    tell(order_placed(delivery=LONDON))

    for shipment_id in ("shp-1", "shp-2", "shp-2"):
        tell(dispatched(shipment_id))

    assert [n.reference for n in about(uow, "shipment.dispatched")] == ["shp-1", "shp-2"]


def test_a_delivery_is_told_with_its_date(service: Service, uow: NotifierUnitOfWork) -> None:
    handle(service, order_placed(delivery=LONDON), uow)

    handle(service, EVENTS["shipment.delivered"], uow)

    notification = queued(uow, "shipment.delivered")
    assert notification.subject == "Your order WEB-1001 has been delivered"
    assert "was delivered on 4 March 2026" in (notification.body or "")


def test_each_failed_delivery_attempt_is_told_once(uow: NotifierUnitOfWork, tell: Tell) -> None:
    tell(order_placed(delivery=LONDON))
    failed = EVENTS["shipment.delivery_failed"]
    assert isinstance(failed, ShipmentDeliveryFailed)
    next_day = failed.model_copy(update={"failed_at": failed.failed_at + timedelta(days=1)})

    for event in (failed, next_day, next_day):
        tell(event)

    first, second = about(uow, "shipment.delivery_failed")
    assert first.subject == "We could not deliver your order WEB-1001"
    assert "on 4 March 2026, but could not" in (first.body or "")
    assert "on 5 March 2026, but could not" in (second.body or "")


def test_a_returned_shipment_tells_the_attempts_and_the_refund(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(delivery=LONDON))

    tell(EVENTS["shipment.returned"])

    notification = queued(uow, "shipment.returned")
    assert notification.subject == "Your order WEB-1001 has come back to us"
    assert "after 3 attempts" in (notification.body or "")
    assert "refunded in full" in (notification.body or "")


def test_each_new_delivery_address_is_told_once(uow: NotifierUnitOfWork, tell: Tell) -> None:
    tell(order_placed(delivery=LONDON))
    changed = EVENTS["shipment.address_changed"]
    other = ShipmentAddressChanged(
        order_id="ord-1",
        address=Address(line1="Station 4", city="Berlin", postal_code="10115", country="DE"),
        pickup_point_id="PP-17",
    )

    for event in (changed, other, other, changed):
        tell(event)

    first, second = about(uow, "shipment.address_changed")
    assert first.subject == "The delivery address of your order WEB-1001 has changed"
    assert "  2 Side St\n  Flat 3\n  20095 Hamburg\n  Germany\n" in (first.body or "")
    assert "Pickup point: PP-17" in (second.body or "")
    assert "2 Side St" not in first.reference


def test_a_refused_address_change_says_the_parcel_has_left(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(delivery=LONDON))

    tell(EVENTS["shipment.address_change_refused"])

    notification = queued(uow, "shipment.address_change_refused")
    assert notification.subject == "We could not change the delivery address of your order WEB-1001"
    assert "already been handed to the carrier" in (notification.body or "")


# -- events that arrive before order.placed -------------------------------------------------


def test_events_before_the_order_is_known_wait_for_it_and_follow_the_confirmation(
    uow: NotifierUnitOfWork, clock: ManualClock, tell: Tell
) -> None:
    tell(EVENTS["shipment.delivered"])
    tell(dispatched())
    tell(EVENTS["payment.refunded"])
    assert [n.status for n in uow.notifications.for_order("ord-1")] == ["waiting"] * 3
    assert [n.queued_at for n in uow.notifications.for_order("ord-1")] == [None] * 3
    clock.advance(timedelta(minutes=5))

    tell(order_placed(delivery=LONDON))

    notifications = uow.notifications.for_order("ord-1")
    assert {n.status for n in notifications} == {"pending"}
    assert {n.queued_at for n in notifications} == {clock.now()}
    in_life_order = sorted(notifications, key=lambda n: n.life_order)
    assert [n.about for n in in_life_order] == [
        "order.placed",
        "shipment.dispatched",
        "shipment.delivered",
        "payment.refunded",
    ]
    assert uow.notifications.waiting("ord-1") == []


# -- languages and money --------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", list(EVENTS.values()), ids=list(EVENTS))
def test_every_event_has_its_own_template_in_every_language(
    event: OrderMessage, language: str, templates: Environment
) -> None:
    context = {**event.model_dump(mode="json"), **RECIPIENT_CONTEXT}

    message = render(templates, event.type, language, context)
    english = render(templates, event.type, "en", context)

    assert message.language == language
    assert message.subject and "\n" not in message.subject
    assert "Ada" in message.body
    if language != "en":
        assert (message.subject, message.body) != (english.subject, english.body)
        assert not message.subject.startswith(english.subject.split()[0])


@pytest.mark.parametrize(
    ("language", "subject", "phrases"),
    [
        (
            "ru",
            "Мы получили ваш заказ WEB-1001",
            ["Ожидаемая дата доставки: 7 марта 2026\u202fг.", "Итого:    29,95\xa0€"],
        ),
        (
            "uk",
            "Ми отримали ваше замовлення WEB-1001",
            ["Очікувана дата доставки: 7 березня 2026\u202fр.", "Разом:    29,95\xa0€"],
        ),
        (
            "zh",
            "我们已收到您的订单 WEB-1001",
            ["预计送达日期：2026年3月7日", "合计：€29.95", "送至 London（英国）"],
        ),
    ],
)
def test_the_confirmation_is_written_in_the_customer_s_language_and_locale(
    language: str, subject: str, phrases: list[str], uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(language=language, delivery=LONDON, expected_delivery=date(2026, 3, 7)))

    notification = queued(uow, "order.placed")
    assert (notification.language, notification.subject) == (language, subject)
    for phrase in phrases:
        assert phrase in (notification.body or "")


def test_a_language_without_its_own_template_falls_back_to_english(
    uow: NotifierUnitOfWork, clock: ManualClock, tmp_path: Path
) -> None:
    shutil.copytree(BUNDLED_TEMPLATES, tmp_path, dirs_exist_ok=True)
    (tmp_path / "uk" / "order.placed.txt.j2").unlink()
    service = bootstrap(clock, NotifierSettings(templates_dir=tmp_path))

    service.handlers[OrderPlaced](order_placed(language="uk", delivery=LONDON), uow)

    notification = queued(uow, "order.placed")
    assert notification.language == "en"
    assert notification.subject == "We have received your order WEB-1001"


def test_a_templates_directory_replaces_the_bundled_templates(
    uow: NotifierUnitOfWork, clock: ManualClock, tmp_path: Path
) -> None:
    shutil.copytree(BUNDLED_TEMPLATES, tmp_path, dirs_exist_ok=True)
    (tmp_path / "zh" / "order.placed.txt.j2").write_text(
        "订单 {{ order_id }} 已收到\n合计 {{ total | money(currency) }}\n"
    )
    service = bootstrap(clock, NotifierSettings(templates_dir=tmp_path))

    service.handlers[OrderPlaced](order_placed(language="zh", delivery=LONDON), uow)

    notification = queued(uow, "order.placed")
    assert (notification.language, notification.subject) == ("zh", "订单 ord-1 已收到")
    assert notification.body == "合计 €29.95\n"


def test_bootstrap_reads_the_templates_directory_from_the_environment(
    service: Service,
    uow: NotifierUnitOfWork,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "order.cancelled.txt.j2").write_text("Cancelled: {{ order_id }}\n")
    monkeypatch.setenv("ORDERFLOW_NOTIFIER_TEMPLATES_DIR", str(tmp_path))
    handle(service, order_placed(delivery=LONDON), uow)

    handle(bootstrap(clock), OrderCancelled(order_id="ord-1", reason="x"), uow)

    assert queued(uow, "order.cancelled").subject == "Cancelled: ord-1"


# -- batches --------------------------------------------------------------------------------


def test_a_batch_costs_the_same_few_selects_however_many_orders_it_holds(
    service: Service,
    session_for: Callable[[Service], Session],
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    """Half the orders heard of every other event before they were placed; all are placed in
    the batch, every event of every order arrives (again) with it, and so does a rejection."""

    def selects_for(orders: int) -> int:
        earlier = session_for(service)
        order_ids = [f"ord-{n:02}" for n in range(orders)]
        early = [
            event
            for order_id in order_ids[: orders // 2]
            for about, event in every_event(order_id).items()
            if about not in ("order.placed", "order.rejected")
        ]
        for event in early:
            service.handlers[type(event)](event, NotifierUnitOfWork(earlier))
        earlier.commit()
        messages: list[Message] = [
            event for order_id in order_ids for event in every_event(order_id).values()
        ]

        session = Session(earlier.get_bind(), expire_on_commit=False)
        uow = NotifierUnitOfWork(session)
        counter = count_queries(session)
        uow.preload(messages)
        announced = [e for m in messages for e in service.handlers[type(m)](m, uow)]
        session.commit()
        selects = counter.selects
        session.close()

        told = [
            n
            for o in order_ids + [replacement_of(o) for o in order_ids]
            for n in NotifierUnitOfWork(session).notifications.for_order(o)
        ]
        assert announced == []
        assert len(told) == orders * len(EVENTS)
        assert {n.status for n in told} == {"pending", "superseded"}
        return selects

    assert selects_for(20) == selects_for(2) <= 2
