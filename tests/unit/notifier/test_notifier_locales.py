# ruff: noqa: RUF001 (Russian, Ukrainian and Chinese text)
"""Customer texts in the customer's locale: money in its currency's digits and the locale's way of
writing amounts, dates in the locale's long format, and a delivery date that moved told as such."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from services.notifier.bootstrap import bootstrap
from services.notifier.model import Notification
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Address,
    Customer,
    Delivery,
    DeliveryOption,
    Message,
    Money,
    OrderLine,
    OrderPlaced,
    PaymentInstruction,
    PaymentMethod,
    ShipmentDispatched,
)
from shared.locales import locale_for, written_money
from shared.service import Service
from tests.factories import order_placed

NBSP, NNBSP = "\N{NO-BREAK SPACE}", "\N{NARROW NO-BREAK SPACE}"
Tell = Callable[[Message], list[Message]]


@pytest.fixture
def service(clock: ManualClock, tmp_path: Path) -> Service:
    return bootstrap(clock, NotifierSettings(maildir=tmp_path / "mail"))


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> NotifierUnitOfWork:
    return NotifierUnitOfWork(session_for(service))


@pytest.fixture
def tell(service: Service, uow: NotifierUnitOfWork) -> Tell:
    return lambda event: list(service.handlers[type(event)](event, uow))


def queued(uow: NotifierUnitOfWork, about: str) -> Notification:
    [notification] = [n for n in uow.notifications.for_order("ord-1") if n.about == about]
    assert notification.status == "pending" and notification.body
    return notification


# -- the locale ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "country", "locale"),
    [
        ("ru", "UA", "ru_UA"),
        ("ru", "RU", "ru_RU"),
        ("uk", "UA", "uk_UA"),
        ("zh", "CN", "zh_Hans_CN"),
        ("en", "US", "en_US"),
        ("en", "GB", "en_GB"),
        ("en", "DE", "en_DE"),
        ("ru", "DE", "ru"),  # Babel knows no Russian of Germany: Russian as written at home
        ("zh", "UA", "zh"),
        ("en", None, "en"),
    ],
)
def test_the_locale_is_the_language_in_the_delivery_country_where_babel_knows_the_pair(
    language: str, country: str | None, locale: str
) -> None:
    assert str(locale_for(language, country)) == locale


@pytest.mark.parametrize(
    ("minor_units", "currency", "locale", "written"),
    [
        (3845, "EUR", "ru", f"38,45{NBSP}€"),
        (3845, "EUR", "uk", f"38,45{NBSP}€"),  # Ukrainian's own symbol is the code: the sign
        (3845, "EUR", "en_US", "€38.45"),
        (3845, "EUR", "zh", "€38.45"),
        (123450, "RUB", "ru", f"1{NBSP}234,50{NBSP}₽"),
        (123450, "RUB", "en_US", "₽1,234.50"),
        (123450, "RUB", "uk", f"1{NBSP}234,50{NBSP}₽"),
        (49900, "UAH", "uk", f"499,00{NBSP}₴"),
        (49900, "UAH", "ru_UA", f"499,00{NBSP}₴"),
        (49900, "UAH", "en", "₴499.00"),
        (9900, "CNY", "zh", "¥99.00"),
        (9900, "CNY", "ru", f"99,00{NBSP}CN¥"),
        (9900, "CNY", "en_US", "CN¥99.00"),
        (1234, "JPY", "en_US", "¥1,234"),
        (1234, "JPY", "zh", "JP¥1,234"),
        (1234, "JPY", "ru", f"1{NBSP}234{NBSP}¥"),
        (1234, "JPY", "uk", f"1{NBSP}234{NBSP}¥"),
        (150000, "CHF", "en_US", f"CHF{NBSP}1,500.00"),  # a code is kept apart from the digits
        (2995, "USD", "en_US", "$29.95"),
        (2995, "USD", "ru", f"29,95{NBSP}$"),
    ],
)
def test_money_is_written_as_the_locale_writes_its_currency(
    minor_units: int, currency: str, locale: str, written: str
) -> None:
    assert written_money(minor_units, currency, locale_for(*locale.split("_"))) == written


# -- an order in each language, in its customer's currency -------------------------------------


def order_in(language: str, currency: str, price: int, fee: int, country: str) -> OrderPlaced:
    return order_placed(
        customer=Customer(name="Test", email="t@example.com", language=language),
        lines=[OrderLine(sku="MUG-BLUE", quantity=1200, unit_price=price)],
        currency=currency,
        shipping_fee=fee,
        delivery=Delivery(
            option=DeliveryOption.STANDARD,
            address=Address(line1="1", city="City", postal_code="1", country=country),
        ),
        expected_delivery=date(2026, 3, 7),
    )


@pytest.mark.parametrize(
    ("language", "currency", "price", "fee", "country", "phrases"),
    [
        (
            "ru",
            "RUB",
            119_000,
            49_000,
            "RU",
            [
                f"1{NBSP}200 x MUG-BLUE по 1{NBSP}190,00{NBSP}₽",
                f"Итого:    1{NBSP}428{NBSP}490,00{NBSP}₽",
                f"Ожидаемая дата доставки: 7 марта 2026{NNBSP}г.",
                "(Россия)",
            ],
        ),
        (
            "uk",
            "UAH",
            49_900,
            7_000,
            "UA",
            [
                f"Разом:    598{NBSP}870,00{NBSP}₴",
                f"Очікувана дата доставки: 7 березня 2026{NNBSP}р.",
                "(Україна)",
            ],
        ),
        (
            "zh",
            "CNY",
            9_900,
            1_500,
            "CN",
            ["1,200 x MUG-BLUE，单价 ¥99.00", "合计：¥118,815.00", "预计送达日期：2026年3月7日"],
        ),
        (
            "en",
            "JPY",
            1_800,
            700,
            "US",
            [
                "1,200 x MUG-BLUE at ¥1,800",
                "Total:    ¥2,160,700",
                "Expected delivery: March 7, 2026",
            ],
        ),
        (
            "ru",
            "JPY",
            1_800,
            700,
            "UA",
            [f"Итого:    2{NBSP}160{NBSP}700{NBSP}¥"],
        ),
    ],
)
def test_a_confirmation_writes_money_dates_and_numbers_in_the_customers_locale(
    language: str,
    currency: str,
    price: int,
    fee: int,
    country: str,
    phrases: list[str],
    uow: NotifierUnitOfWork,
    tell: Tell,
) -> None:
    tell(order_in(language, currency, price, fee, country))

    body = queued(uow, "order.placed").body or ""
    for phrase in phrases:
        assert phrase in body
    assert currency not in body.replace("CN¥", "")


# -- a delivery date that moved ---------------------------------------------------------------


def dispatched(expected: date, cash: Money | None = None) -> ShipmentDispatched:
    return ShipmentDispatched(
        order_id="ord-1",
        shipment_id="shp-1",
        carrier="DHL",
        service="paket",
        tracking_number="TRK-1",
        expected_delivery=expected,
        cost=Money(amount=449, currency="EUR"),
        cash_on_delivery=cash,
    )


@pytest.mark.parametrize(
    ("language", "earlier", "later"),
    [
        (
            "en",
            "Good news: that is earlier than the 7 March 2026 we told you when you ordered.",
            "We are sorry: that is later than the 7 March 2026 we told you when you ordered.",
        ),
        (
            "ru",
            f"это раньше даты, которую мы назвали вам при заказе (7 марта 2026{NNBSP}г.)",
            f"это позже даты, которую мы назвали вам при заказе (7 марта 2026{NNBSP}г.)",
        ),
        (
            "uk",
            f"це раніше за дату, яку ми назвали вам під час замовлення (7 березня 2026{NNBSP}р.)",
            f"це пізніше за дату, яку ми назвали вам під час замовлення (7 березня 2026{NNBSP}р.)",
        ),
        (
            "zh",
            "好消息：这比您下单时我们告知的日期（2026年3月7日）要早。",
            "很抱歉：这比您下单时我们告知的日期（2026年3月7日）要晚。",
        ),
    ],
)
@pytest.mark.parametrize("moved", ["earlier", "later", "kept"])
def test_a_dispatch_says_when_the_delivery_date_moved_from_the_one_promised(
    language: str,
    earlier: str,
    later: str,
    moved: str,
    uow: NotifierUnitOfWork,
    tell: Tell,
) -> None:
    promised = date(2026, 3, 7)
    expected = {"earlier": date(2026, 3, 5), "later": date(2026, 3, 10), "kept": promised}[moved]
    customer = Customer(name="T", email="t@example.com", language=language)
    tell(order_placed(customer=customer, expected_delivery=promised))

    tell(dispatched(expected))

    body = queued(uow, "shipment.dispatched").body or ""
    assert (earlier in body, later in body) == (moved == "earlier", moved == "later")


def test_a_cash_on_delivery_dispatch_says_what_to_pay_the_courier(
    uow: NotifierUnitOfWork, tell: Tell
) -> None:
    tell(
        order_in("uk", "UAH", 49_900, 7_000, "UA").model_copy(
            update={
                "lines": [OrderLine(sku="MUG-BLUE", quantity=1, unit_price=49_900)],
                "payment": PaymentInstruction(method=PaymentMethod.CASH_ON_DELIVERY),
            }
        )
    )

    tell(dispatched(date(2026, 3, 7), Money(amount=56_900, currency="UAH")))

    assert f"Оплата при отриманні:    569,00{NBSP}₴" in (
        queued(uow, "shipment.dispatched").body or ""
    )
