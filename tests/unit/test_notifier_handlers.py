"""Notifier, as a specification: tell the customer about each event once, in their language."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jinja2 import Environment
from sqlalchemy.orm import Session

from services.notifier import worker
from services.notifier.handlers import (
    on_order_cancelled,
    on_order_placed,
    on_order_rejected,
    on_shipment_delivered,
    on_shipment_dispatched,
)
from services.notifier.model import Notification
from services.notifier.rendering import BUNDLED_TEMPLATES, make_environment, money
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Customer,
    Message,
    Money,
    NotificationSent,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    Problem,
    ShipmentDelivered,
    ShipmentDispatched,
)
from shared.handlers import Service
from tests.factories import order_placed
from tests.unit.conftest import QueryCounter

ADA = Customer(name="Ada Lovelace", email="ada@example.com", language="en")


@pytest.fixture
def uow(session_for: Callable[[Service], Session]) -> NotifierUnitOfWork:
    return NotifierUnitOfWork(session_for(worker.bootstrap()))


@pytest.fixture
def templates() -> Environment:
    return make_environment()


def dispatched(shipment_id: str = "shp-1") -> ShipmentDispatched:
    return ShipmentDispatched(
        order_id="ord-1",
        shipment_id=shipment_id,
        carrier="DHL",
        service="express",
        tracking_number=f"TRK-{shipment_id}",
        expected_delivery=date(2026, 3, 5),
        cost=Money(amount=590, currency="EUR"),
    )


def delivered() -> ShipmentDelivered:
    return ShipmentDelivered(
        order_id="ord-1",
        shipment_id="shp-1",
        tracking_number="TRK-shp-1",
        delivered_at=datetime(2026, 3, 4, 15, 30, tzinfo=UTC),
    )


def rejected(customer: Customer | None = ADA, attempt: int = 1) -> OrderRejected:
    return OrderRejected(
        order_id="ord-1",
        channel="web",
        external_id="WEB-1001",
        problems=[
            Problem(field="lines[1].sku", message="MUG-BLUE is already on lines[0]"),
            Problem(field="payment.method", message="bank_transfer is not accepted"),
        ],
        customer=customer,
        attempt=attempt,
    )


def only(uow: NotifierUnitOfWork, about: str) -> Notification:
    [notification] = [n for n in uow.notifications.for_order("ord-1") if n.about == about]
    return notification


def sent_about(events: list[Message]) -> list[str]:
    assert all(isinstance(event, NotificationSent) for event in events)
    return [event.about for event in events if isinstance(event, NotificationSent)]


# -- order received -------------------------------------------------------------------------


def test_a_placed_order_is_acknowledged_with_its_lines_and_total(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    [event] = on_order_placed(order_placed(), uow, clock, templates)

    notification = only(uow, "order.placed")
    assert event == NotificationSent(
        order_id="ord-1", notification_id=notification.id, about="order.placed", language="en"
    )
    assert (notification.status, notification.email) == ("sent", "ada@example.com")
    assert notification.sent_at == clock.now()
    assert notification.subject == "We have received your order ord-1"
    assert notification.body is not None
    assert "Hello Ada Lovelace," in notification.body
    assert "2 x MUG-BLUE at 12.50 EUR" in notification.body
    assert "Total:    29.95 EUR" in notification.body


def test_an_event_is_told_once_however_often_it_arrives(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    on_order_placed(order_placed(), uow, clock, templates)

    assert on_order_placed(order_placed(), uow, clock, templates) == []
    assert uow.notifications.sent_counts() == {("ord-1", "order.placed"): 1}


def test_a_notification_keeps_neither_contact_nor_payment_data_in_its_context(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    on_order_placed(order_placed(), uow, clock, templates)

    context = only(uow, "order.placed").context
    assert "payment" not in context and "customer" not in context


# -- rejections -----------------------------------------------------------------------------


def test_a_rejection_tells_the_customer_every_problem(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    assert sent_about(on_order_rejected(rejected(), uow, clock, templates)) == ["order.rejected"]

    notification = only(uow, "order.rejected")
    assert notification.subject == "We could not accept your order WEB-1001"
    assert notification.body is not None
    assert "- lines[1].sku: MUG-BLUE is already on lines[0]" in notification.body
    assert "- payment.method: bank_transfer is not accepted" in notification.body


def test_a_rejection_naming_no_customer_is_kept_as_undeliverable(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    assert on_order_rejected(rejected(customer=None), uow, clock, templates) == []

    notification = only(uow, "order.rejected")
    assert notification.status == "undeliverable"
    assert notification.reason == "the rejected submission named no valid customer to tell"


def test_each_rejected_attempt_is_told(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    on_order_rejected(rejected(attempt=1), uow, clock, templates)

    assert len(on_order_rejected(rejected(attempt=2), uow, clock, templates)) == 1
    assert on_order_rejected(rejected(attempt=2), uow, clock, templates) == []
    assert uow.notifications.sent_counts() == {("ord-1", "order.rejected"): 2}


def test_a_rejection_arriving_after_its_correction_was_placed_is_not_sent(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    on_order_placed(order_placed(), uow, clock, templates)

    assert on_order_rejected(rejected(), uow, clock, templates) == []
    assert only(uow, "order.rejected").status == "superseded"


# -- the rest of the order's life -----------------------------------------------------------


def test_a_cancellation_says_why(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    on_order_placed(order_placed(), uow, clock, templates)
    cancelled = OrderCancelled(order_id="ord-1", reason="out_of_stock")

    assert sent_about(on_order_cancelled(cancelled, uow, clock, templates)) == ["order.cancelled"]
    notification = only(uow, "order.cancelled")
    assert notification.subject == "Your order ord-1 has been cancelled"
    assert "because some of its items are out of stock" in (notification.body or "")
    assert on_order_cancelled(cancelled, uow, clock, templates) == []


def test_a_dispatch_gives_the_carrier_tracking_number_and_expected_delivery(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    on_order_placed(order_placed(), uow, clock, templates)

    assert sent_about(on_shipment_dispatched(dispatched(), uow, clock, templates)) == [
        "shipment.dispatched"
    ]
    body = only(uow, "shipment.dispatched").body or ""
    assert "with DHL (express)" in body
    assert "Tracking number:   TRK-shp-1" in body
    assert "Expected delivery: 2026-03-05" in body


def test_each_shipment_of_an_order_is_told(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    on_order_placed(order_placed(), uow, clock, templates)
    on_shipment_dispatched(dispatched("shp-1"), uow, clock, templates)

    assert len(on_shipment_dispatched(dispatched("shp-2"), uow, clock, templates)) == 1
    assert on_shipment_dispatched(dispatched("shp-2"), uow, clock, templates) == []
    assert uow.notifications.sent_counts()[("ord-1", "shipment.dispatched")] == 2


def test_a_delivery_is_told_with_its_date(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    on_order_placed(order_placed(), uow, clock, templates)

    assert sent_about(on_shipment_delivered(delivered(), uow, clock, templates)) == [
        "shipment.delivered"
    ]
    notification = only(uow, "shipment.delivered")
    assert notification.subject == "Your order ord-1 has been delivered"
    assert "was delivered on 2026-03-04" in (notification.body or "")
    assert on_shipment_delivered(delivered(), uow, clock, templates) == []


# -- events that arrive before order.placed -------------------------------------------------


def test_events_before_the_order_is_known_wait_for_it_and_follow_the_acknowledgement(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    assert on_shipment_delivered(delivered(), uow, clock, templates) == []
    assert on_shipment_dispatched(dispatched(), uow, clock, templates) == []
    assert [n.status for n in uow.notifications.for_order("ord-1")] == ["pending", "pending"]

    events = on_order_placed(order_placed(), uow, clock, templates)

    assert sent_about(events) == ["order.placed", "shipment.dispatched", "shipment.delivered"]
    assert {n.status for n in uow.notifications.for_order("ord-1")} == {"sent"}
    assert uow.notifications.pending("ord-1") == []


# -- languages and money --------------------------------------------------------------------


def test_a_language_without_its_own_templates_falls_back_to_english(
    uow: NotifierUnitOfWork, clock: ManualClock, templates: Environment
) -> None:
    customer = Customer(name="Ivan Petrov", email="ivan@example.com", language="ru")

    [event] = on_order_placed(order_placed(customer=customer), uow, clock, templates)

    assert isinstance(event, NotificationSent) and event.language == "en"
    assert only(uow, "order.placed").subject == "We have received your order ord-1"


def test_a_translated_template_is_used_when_there_is_one(
    uow: NotifierUnitOfWork, clock: ManualClock, tmp_path: Path
) -> None:
    shutil.copytree(BUNDLED_TEMPLATES, tmp_path, dirs_exist_ok=True)
    (tmp_path / "zh" / "order.placed.txt.j2").write_text(
        "我们已收到您的订单 {{ order_id }}\n合计 {{ total | money(currency) }}\n"
    )
    service = worker.bootstrap(clock, NotifierSettings(templates_dir=tmp_path))
    customer = Customer(name="Li Wei", email="li@example.com", language="zh")

    [event] = service.handlers[OrderPlaced](order_placed(customer=customer), uow)

    assert isinstance(event, NotificationSent) and event.language == "zh"
    notification = only(uow, "order.placed")
    assert notification.subject == "我们已收到您的订单 ord-1"
    assert notification.body == "合计 29.95 EUR\n"


def test_bootstrap_reads_the_templates_directory_from_the_environment(
    uow: NotifierUnitOfWork, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "order.cancelled.txt.j2").write_text("Cancelled: {{ order_id }}\n")
    monkeypatch.setenv("ORDERFLOW_NOTIFIER_TEMPLATES_DIR", str(tmp_path))
    service = worker.bootstrap(clock)
    on_order_placed(order_placed(), uow, clock, make_environment())

    service.handlers[OrderCancelled](OrderCancelled(order_id="ord-1", reason="x"), uow)

    assert only(uow, "order.cancelled").subject == "Cancelled: ord-1"


@pytest.mark.parametrize(
    ("minor_units", "currency", "shown"),
    [(2995, "EUR", "29.95 EUR"), (5, "USD", "0.05 USD"), (1500, "JPY", "1500 JPY")],
)
def test_money_is_shown_from_integer_minor_units(
    minor_units: int, currency: str, shown: str
) -> None:
    assert money(minor_units, currency) == shown


# -- batches --------------------------------------------------------------------------------


def test_a_batch_costs_the_same_few_selects_however_many_orders_it_holds(
    clock: ManualClock,
    templates: Environment,
    session_for: Callable[[Service], Session],
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    """Half the orders had a dispatch told before they were placed; all are placed in the batch,
    and each dispatch arrives again."""

    def selects_for(orders: int) -> int:
        service = worker.bootstrap(clock)
        earlier = session_for(service)
        order_ids = [f"ord-{n:02}" for n in range(orders)]
        early = [dispatched().model_copy(update={"order_id": o}) for o in order_ids[: orders // 2]]
        for event in early:
            on_shipment_dispatched(event, NotifierUnitOfWork(earlier), clock, templates)
        earlier.commit()
        messages: list[Message] = [order_placed(order_id) for order_id in order_ids]
        messages += early

        session = Session(earlier.get_bind(), expire_on_commit=False)
        uow = NotifierUnitOfWork(session)
        counter = count_queries(session)
        uow.preload(messages)
        announced = [e for m in messages for e in service.handlers[type(m)](m, uow)]
        session.commit()
        selects = counter.selects
        session.close()

        told = {(e.order_id, e.about) for e in announced if isinstance(e, NotificationSent)}
        assert len(announced) == len(told) == orders + len(early)
        assert {(e.order_id, e.type) for e in early} <= told
        return selects

    assert selects_for(20) == selects_for(2) <= 2
