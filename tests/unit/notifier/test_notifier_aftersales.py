# ruff: noqa: RUF001 (Russian, Ukrainian and Chinese text)
"""Notifier's after-sales messages, as a specification: an RMA, a refused request, goods received
back, an RMA that expired, and a replacement, which travels as an order of its own (its id is
the case id ``<order>.<n>``) and names its recipient, so its shipments reach the customer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from services.notifier.bootstrap import bootstrap
from services.notifier.model import Notification
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    AftersalesRequestRefused,
    InspectedLine,
    ItemQuantity,
    Message,
    Money,
    OrderMessage,
    PaymentRefunded,
    ReplacementRequested,
    Resolution,
    ReturnAuthorized,
    ReturnExpired,
    ReturnReceived,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentReturned,
)
from shared.service import Service
from tests.factories import ADA, order_placed
from tests.notifier_support import every_event

RMA = "ord-1.1"
CASE = "ord-1.2"
"""The replacement's order id: the case id of the order's second case."""


@pytest.fixture
def service(clock: ManualClock, tmp_path: Path) -> Service:
    return bootstrap(clock, NotifierSettings(maildir=tmp_path / "mail"))


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> NotifierUnitOfWork:
    return NotifierUnitOfWork(session_for(service))


Tell = Callable[[Message], list[Message]]


@pytest.fixture
def tell(service: Service, uow: NotifierUnitOfWork) -> Tell:
    """Hand an event to the notifier's handler table, as the runtime does."""

    def handle(event: Message) -> list[Message]:
        return list(service.handlers[type(event)](event, uow))

    return handle


def authorized(resolution: Resolution = Resolution.REFUND, rma: str = RMA) -> ReturnAuthorized:
    return ReturnAuthorized(
        order_id="ord-1",
        rma=rma,
        request_id=f"req-{rma}",
        resolution=resolution,
        lines=[ItemQuantity(sku="MUG-BLUE", quantity=2)],
        reason="too small",
        send_by=datetime(2026, 3, 18, 23, 30, tzinfo=UTC),
    )


def refused(request_id: str = "req-9", request: str = "resend") -> AftersalesRequestRefused:
    return AftersalesRequestRefused(
        order_id="ord-1",
        request_id=request_id,
        request=request,
        reason="window_closed",
        detail="the resend window of order WEB-1001 closed on 2026-03-18",
    )


def received(resellable: int = 2, damaged: int = 0, refund: int | None = 2500) -> ReturnReceived:
    return ReturnReceived(
        order_id="ord-1",
        rma=RMA,
        resolution=Resolution.REFUND if refund is not None else Resolution.EXCHANGE,
        lines=[InspectedLine(sku="MUG-BLUE", resellable=resellable, damaged=damaged)],
        refund=Money(amount=refund, currency="EUR") if refund is not None else None,
    )


def replacement(request: str = "exchange", language: str = "en") -> ReplacementRequested:
    return ReplacementRequested(
        order_id=CASE,
        replaces_order="ord-1",
        request=request,
        lines=[ItemQuantity(sku="MUG-BLUE", quantity=1)],
        customer=ADA.model_copy(update={"language": language}),
        delivery=order_placed().delivery,
        reason="wrong colour",
    )


def of_replacement(kind: type[Message]) -> Message:
    """The shipment event of ``every_event`` of that type, about the replacement."""
    [event] = [e for e in every_event().values() if isinstance(e, kind)]
    return event.model_copy(update={"order_id": CASE})


def about(uow: NotifierUnitOfWork, what: str, order_id: str = "ord-1") -> list[Notification]:
    return [n for n in uow.notifications.for_order(order_id) if n.about == what]


def queued(uow: NotifierUnitOfWork, what: str, order_id: str = "ord-1") -> Notification:
    """The one notification about ``what``, rendered and waiting for the courier."""
    [notification] = about(uow, what, order_id)
    assert notification.status == "pending"
    assert notification.subject and notification.body
    return notification


# -- told once ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "reference"),
    [
        (authorized(), RMA),
        (refused(), "req-9"),
        (received(), RMA),
        (ReturnExpired(order_id="ord-1", rma=RMA), RMA),
        (replacement(), ""),
    ],
    ids=lambda value: value.type if isinstance(value, Message) else None,
)
def test_an_after_sales_event_is_told_once_however_often_it_arrives(
    event: OrderMessage, reference: str, uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())

    for _ in range(3):
        assert tell(event) == []

    [notification] = about(uow, event.type, event.order_id)
    assert (notification.status, notification.reference) == ("pending", reference)


def test_each_rma_and_each_refused_request_of_an_order_is_told(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())

    for event in (authorized(rma="ord-1.1"), authorized(rma="ord-1.3"), refused("req-8")):
        tell(event)
        tell(event)
    tell(refused("req-9", request="exchange"))

    assert [n.reference for n in about(uow, "return.authorized")] == ["ord-1.1", "ord-1.3"]
    assert [n.reference for n in about(uow, "aftersales.request_refused")] == ["req-8", "req-9"]


# -- an RMA ---------------------------------------------------------------------------------


def test_an_rma_tells_the_number_to_write_on_the_parcel_the_lines_and_the_date_to_send_by(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())

    tell(authorized())

    notification = queued(uow, "return.authorized")
    body = notification.body or ""
    assert notification.subject == "Return ord-1.1 authorized for your order WEB-1001"
    assert "  2 x MUG-BLUE\n" in body
    assert "Return number: ord-1.1" in body
    assert "Send by:       18 March 2026" in body
    assert "write the return number ord-1.1 clearly on the parcel" in body
    assert "we will refund them" in body
    assert "replacement" not in body


def test_an_exchange_rma_says_a_replacement_goes_out_once_the_goods_arrive(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())

    tell(authorized(Resolution.EXCHANGE))

    notification = queued(uow, "return.authorized")
    assert notification.subject == "Exchange ord-1.1 authorized for your order WEB-1001"
    assert "send you a replacement as soon as the goods arrive" in (notification.body or "")


@pytest.mark.parametrize(
    ("language", "subject", "phrases"),
    [
        (
            "ru",
            "Обмен ord-1.1 по заказу WEB-1001 одобрен",
            [
                "Номер возврата: ord-1.1",
                "Отправить до:   18 марта 2026\u202fг.",
                "отправим вам замену",
            ],
        ),
        (
            "zh",
            "您订单 WEB-1001 的换货申请已批准，退货编号 ord-1.1",
            ["退货编号：ord-1.1", "寄回截止：2026年3月18日", "换货商品"],
        ),
    ],
)
def test_an_rma_is_written_in_the_customer_s_language(
    language: str, subject: str, phrases: list[str], uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(language=language))

    tell(authorized(Resolution.EXCHANGE))

    notification = queued(uow, "return.authorized")
    assert (notification.language, notification.subject) == (language, subject)
    for phrase in phrases:
        assert phrase in (notification.body or "")


# -- a refused request ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "asked"),
    [
        ("return", "your return request"),
        ("exchange", "your exchange request"),
        ("resend", "your request to send missing items again"),
    ],
)
def test_a_refused_request_says_which_request_and_why(
    request_: str, asked: str, uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())

    tell(refused(request=request_))

    notification = queued(uow, "aftersales.request_refused")
    body = notification.body or ""
    assert notification.subject == f"We could not accept {asked} for order WEB-1001"
    assert "(request req-9), because the time for such requests has run out:" in body
    assert "  the resend window of order WEB-1001 closed on 2026-03-18\n" in body


def test_a_refusal_for_an_unknown_reason_shows_its_code(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())

    tell(refused().model_copy(update={"reason": "fraud_suspected", "detail": "ask us"}))

    assert "because fraud suspected:\n\n  ask us\n" in (
        queued(uow, "aftersales.request_refused").body or ""
    )


@pytest.mark.parametrize(
    ("language", "subject", "phrase"),
    [
        (
            "uk",
            "Ми не змогли прийняти вашу заявку на обмін за замовленням WEB-1001",
            "(заявка req-9): строк подання таких заявок минув.",
        ),
        (
            "zh",
            "我们无法受理您订单 WEB-1001 的换货申请",
            "（申请编号 req-9），原因是：此类申请的期限已过。",
        ),
    ],
)
def test_a_refusal_is_written_in_the_customer_s_language(
    language: str, subject: str, phrase: str, uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(language=language))

    tell(refused(request="exchange"))

    notification = queued(uow, "aftersales.request_refused")
    assert (notification.language, notification.subject) == (language, subject)
    assert phrase in (notification.body or "")
    assert "the resend window of order WEB-1001 closed on 2026-03-18" in (notification.body or "")


# -- goods received back --------------------------------------------------------------------


def test_goods_received_for_a_refund_tell_the_amount(uow: NotifierUnitOfWork, tell: Tell) -> None:
    tell(order_placed())

    tell(received())

    notification = queued(uow, "return.received")
    body = notification.body or ""
    assert notification.subject == "We have received your return ord-1.1"
    assert "  2 x MUG-BLUE\n" in body
    assert "We will refund you 25,00\xa0€.\n" in body
    assert "damaged" not in body


def test_damaged_goods_received_say_they_lowered_the_refund(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())

    tell(received(resellable=1, damaged=1, refund=1875))

    body = queued(uow, "return.received").body or ""
    assert "  2 x MUG-BLUE (1 damaged)\n" in body
    assert "We will refund you 18,75\xa0€. Damaged items are refunded only in part" in body


def test_goods_received_all_damaged_and_worth_nothing_say_so(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())

    tell(received(resellable=0, damaged=2, refund=0))

    body = queued(uow, "return.received").body or ""
    assert "we cannot refund anything for them" in body
    assert "0,00" not in body


def test_goods_received_for_an_exchange_say_the_replacement_is_on_its_way(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())

    tell(received(refund=None))

    body = queued(uow, "return.received").body or ""
    assert "We are sending you the replacement now" in body
    assert "refund" not in body


@pytest.mark.parametrize(
    ("language", "subject", "phrases"),
    [
        (
            "ru",
            "Мы получили ваш возврат ord-1.1",
            ["2 x MUG-BLUE (повреждено: 1)", "Мы вернём вам 18,75\xa0€.", "только часть стоимости"],
        ),
        (
            "uk",
            "Ми отримали ваше повернення ord-1.1",
            ["2 x MUG-BLUE (пошкоджено: 1)", "Ми повернемо вам 18,75\xa0€.", "лише частина"],
        ),
    ],
)
def test_goods_received_are_told_in_the_customer_s_language(
    language: str, subject: str, phrases: list[str], uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(language=language))

    tell(received(resellable=1, damaged=1, refund=1875))

    notification = queued(uow, "return.received")
    assert (notification.language, notification.subject) == (language, subject)
    for phrase in phrases:
        assert phrase in (notification.body or "")


def test_a_refund_for_returned_goods_says_why(uow: NotifierUnitOfWork, tell: Tell) -> None:
    tell(order_placed())
    refund = every_event()["payment.refunded"]
    assert isinstance(refund, PaymentRefunded)

    tell(refund.model_copy(update={"refund_id": "rf_pay-1:case:ord-1.1", "reason": "returned"}))

    assert "because we have received the goods you sent back." in (
        queued(uow, "payment.refunded").body or ""
    )


# -- an RMA that expired --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "subject", "phrase"),
    [
        ("en", "Your return ord-1.1 has been closed", "did not reach us in time"),
        ("uk", "Повернення ord-1.1 закрито", "не надійшли до нас вчасно"),
    ],
)
def test_an_expired_rma_says_it_was_closed_as_nothing_arrived_in_time(
    language: str, subject: str, phrase: str, uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(language=language))

    tell(ReturnExpired(order_id="ord-1", rma=RMA))

    notification = queued(uow, "return.expired")
    assert (notification.language, notification.subject) == (language, subject)
    assert phrase in (notification.body or "")


# -- events before the order is known -------------------------------------------------------


def test_after_sales_events_before_the_order_is_known_follow_it_in_the_order_of_its_life(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    refund = every_event()["payment.refunded"]
    for event in (refund, received(), authorized(), refused()):
        tell(event)
    assert {n.status for n in uow.notifications.for_order("ord-1")} == {"waiting"}

    tell(order_placed())

    in_life_order = sorted(uow.notifications.for_order("ord-1"), key=lambda n: n.life_order)
    assert [n.about for n in in_life_order] == [
        "order.placed",
        "aftersales.request_refused",
        "return.authorized",
        "return.received",
        "payment.refunded",
    ]
    assert {n.status for n in in_life_order} == {"pending"}


# -- a replacement --------------------------------------------------------------------------


def test_a_replacement_is_told_to_the_customer_it_names(
    uow: NotifierUnitOfWork, clock: ManualClock, tell: Tell
) -> None:
    tell(order_placed())

    assert tell(replacement()) == []

    notification = queued(uow, "replacement.requested", CASE)
    body = notification.body or ""
    assert (notification.email, notification.language) == ("ada@example.com", "en")
    assert notification.queued_at == clock.now()
    assert notification.subject == "We are sending the replacement for your order WEB-1001"
    assert "from your order WEB-1001, we are sending you these items, free of charge:" in body
    assert "  1 x MUG-BLUE\n" in body
    assert "Delivery to Berlin (Germany), parcel reference ord-1.2." in body
    assert "customer" not in notification.context


def test_a_resend_is_told_as_the_missing_items(uow: NotifierUnitOfWork, tell: Tell) -> None:
    tell(order_placed())

    tell(replacement("resend"))

    notification = queued(uow, "replacement.requested", CASE)
    assert notification.subject == "We are sending the missing items of your order WEB-1001"
    assert "items were missing from your order WEB-1001" in (notification.body or "")


@pytest.mark.parametrize(
    ("language", "subject", "phrase"),
    [
        ("ru", "Мы отправляем недостающие товары из заказа WEB-1001", "номер отправления ord-1.2"),
        ("zh", "我们正在为您补发订单 WEB-1001 的缺件商品", "包裹编号：ord-1.2"),
    ],
)
def test_a_replacement_is_written_in_the_language_of_the_customer_it_names(
    language: str, subject: str, phrase: str, uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed(language="en"))

    tell(replacement("resend", language=language))

    notification = queued(uow, "replacement.requested", CASE)
    assert (notification.language, notification.subject) == (language, subject)
    assert phrase in (notification.body or "")


SHIPMENTS: list[type[Message]] = [
    ShipmentDispatched,
    ShipmentDeliveryFailed,
    ShipmentDelivered,
    ShipmentReturned,
]


def test_the_replacement_s_shipments_reach_the_customer(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())
    tell(replacement())

    for kind in SHIPMENTS:
        tell(of_replacement(kind))

    told = {n.about: n for n in uow.notifications.for_order(CASE)}
    assert {n.status for n in told.values()} == {"pending"}
    assert {n.email for n in told.values()} == {"ada@example.com"}
    parcel = "replacement parcel for your order WEB-1001"
    assert told["shipment.dispatched"].subject == f"The {parcel} is on its way"
    assert f"the {parcel} has left our warehouse with DHL (express)" in (
        told["shipment.dispatched"].body or ""
    )
    assert told["shipment.delivered"].subject == f"The {parcel} has been delivered"
    assert told["shipment.delivery_failed"].subject == f"We could not deliver the {parcel}"
    assert told["shipment.returned"].subject == f"The {parcel} has come back to us"
    returned = told["shipment.returned"].body or ""
    assert "we will refund you the value of its items" in returned
    assert "cancelled" not in returned
    assert about(uow, "shipment.dispatched") == []


def test_the_replacement_s_shipments_are_told_in_the_customer_s_language(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())
    tell(replacement(language="ru"))

    tell(of_replacement(ShipmentReturned))

    notification = queued(uow, "shipment.returned", CASE)
    assert notification.language == "ru"
    assert notification.subject == "Посылка с заменой по вашему заказу WEB-1001 вернулась к нам"
    assert "возместим вам стоимость этих товаров" in (notification.body or "")


def test_the_replacement_s_shipments_before_it_was_named_follow_it(
    uow: NotifierUnitOfWork, clock: ManualClock, tell: Tell
) -> None:
    tell(order_placed())
    tell(of_replacement(ShipmentDelivered))
    tell(of_replacement(ShipmentDispatched))
    assert {n.status for n in uow.notifications.for_order(CASE)} == {"waiting"}
    clock.advance(timedelta(minutes=5))

    tell(replacement())

    notifications = uow.notifications.for_order(CASE)
    assert {n.status for n in notifications} == {"pending"}
    assert {n.queued_at for n in notifications} == {clock.now()}
    in_life_order = sorted(notifications, key=lambda n: n.life_order)
    assert [n.about for n in in_life_order] == [
        "replacement.requested",
        "shipment.dispatched",
        "shipment.delivered",
    ]
    assert uow.notifications.waiting(CASE) == []


@pytest.mark.parametrize(
    ("language", "subjects"),
    [
        (
            "en",
            [
                "The parcel with the missing items for your order WEB-1001 is on its way",
                "The parcel with the missing items for your order WEB-1001 has been delivered",
            ],
        ),
        (
            "ru",
            [
                "Посылка с недостающими товарами по вашему заказу WEB-1001 в пути",
                "Посылка с недостающими товарами по вашему заказу WEB-1001 доставлена",
            ],
        ),
        (
            "uk",
            [
                "Посилка з відсутніми товарами за вашим замовленням WEB-1001 в дорозі",
                "Посилку з відсутніми товарами за вашим замовленням WEB-1001 доставлено",
            ],
        ),
        ("zh", ["您订单 WEB-1001 的补发包裹已发货", "您订单 WEB-1001 的补发包裹已送达"]),
    ],
)
def test_a_resend_s_parcel_is_the_missing_items_and_an_exchange_s_the_replacement(
    language: str, subjects: list[str], uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(order_placed())
    tell(replacement("resend", language=language))
    exchange = replacement(language=language).model_copy(update={"order_id": "ord-1.3"})
    tell(exchange)

    for kind in (ShipmentDispatched, ShipmentDelivered):
        tell(of_replacement(kind))
        tell(of_replacement(kind).model_copy(update={"order_id": "ord-1.3"}))

    resent = [queued(uow, about, CASE).subject for about in SHIPMENT_TYPES]
    exchanged = [queued(uow, about, "ord-1.3").subject for about in SHIPMENT_TYPES]
    assert resent == subjects
    assert set(resent).isdisjoint(exchanged)
    if language == "zh":
        assert all("换货包裹" in subject for subject in exchanged)


SHIPMENT_TYPES = ["shipment.dispatched", "shipment.delivered"]


def test_a_replacement_of_an_order_not_heard_of_goes_by_the_original_order_s_id(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(replacement())

    notification = queued(uow, "replacement.requested", CASE)
    assert notification.subject == "We are sending the replacement for your order ord-1"
