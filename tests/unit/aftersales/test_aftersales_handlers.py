"""After-sales, as a specification: returns, exchanges and resends of a delivered order.

The order sold two blue mugs at 12.50 and a green tea at 8.00, with 4.95 shipping: 37.95.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.aftersales.bootstrap import bootstrap
from services.aftersales.model import Order, ReceiptRefused
from services.aftersales.settings import AftersalesSettings
from services.aftersales.store import AftersalesUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Address,
    AftersalesCaseClosed,
    AftersalesRequestRefused,
    CaseOutcome,
    InspectedLine,
    ItemQuantity,
    Message,
    Money,
    OrderLine,
    RefundRequested,
    ReplacementRequested,
    ResendRequest,
    Resolution,
    ReturnAuthorized,
    ReturnDue,
    ReturnExpired,
    ReturnReceive,
    ReturnReceived,
    ReturnRequest,
    ShipmentAddressChanged,
    ShipmentDelivered,
    ShipmentReturned,
    Shortage,
    StockUnavailable,
)
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_placed
from tests.unit.conftest import QueryCounter

LINES = [
    OrderLine(sku="MUG-BLUE", quantity=2, unit_price=1250),
    OrderLine(sku="TEA-GREEN", quantity=1, unit_price=800),
]
TOTAL = 2 * 1250 + 800 + 495
DAY = 24 * 3600


class AfterSales:
    """After-sales' handlers over one in-memory database, with the clock the test moves."""

    def __init__(self, service: Service, session: Session, clock: ManualClock) -> None:
        self.service, self.session, self.clock = service, session, clock
        self.uow = AftersalesUnitOfWork(session)

    def __call__(self, message: Message) -> list[Any]:
        return list(self.service.handlers[type(message)](message, self.uow))

    def sold_and_delivered(self, order_id: str = "ord-1") -> None:
        assert self(order_placed(order_id, lines=LINES)) == []
        assert self(delivered(order_id, self.clock.now())) == []

    def order(self, order_id: str = "ord-1") -> Order:
        order = self.uow.orders.get(order_id)
        assert order is not None
        return order


@pytest.fixture
def aftersales(session_for: Callable[[Service], Session], clock: ManualClock) -> AfterSales:
    service = bootstrap(
        clock, AftersalesSettings(return_window_seconds=14 * DAY, send_back_seconds=7 * DAY)
    )
    return AfterSales(service, session_for(service), clock)


def delivered(order_id: str, at: datetime) -> ShipmentDelivered:
    return ShipmentDelivered(
        order_id=order_id, shipment_id=f"shp-{order_id}", tracking_number="DPD42", delivered_at=at
    )


def return_request(
    request_id: str = "req-1", resolution: Resolution = Resolution.REFUND, **units: int
) -> ReturnRequest:
    return ReturnRequest(
        order_id="ord-1",
        request_id=request_id,
        resolution=resolution,
        lines=lines(**(units or {"MUG-BLUE": 2, "TEA-GREEN": 1})),
        reason="does not match the photos",
    )


def resend_request(request_id: str = "req-9", **units: int) -> ResendRequest:
    return ResendRequest(
        order_id="ord-1",
        request_id=request_id,
        lines=lines(**units),
        reason="missing from the parcel",
    )


def receipt(rma: str = "ord-1.1", **inspected: tuple[int, int]) -> ReturnReceive:
    return ReturnReceive(
        order_id="ord-1",
        rma=rma,
        lines=[
            InspectedLine(sku=sku.replace("_", "-"), resellable=good, damaged=bad)
            for sku, (good, bad) in inspected.items()
        ],
    )


def lines(**units: int) -> list[ItemQuantity]:
    return [ItemQuantity(sku=sku.replace("_", "-"), quantity=n) for sku, n in units.items()]


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def of_type(results: list[Any], kind: type[Any]) -> list[Any]:
    return [r for r in results if isinstance(r, kind)]


# -- requests ---------------------------------------------------------------------------------


def test_a_return_within_the_window_is_given_an_rma_and_a_date_to_send_by(
    aftersales: AfterSales,
) -> None:
    aftersales.sold_and_delivered()
    aftersales.clock.advance(timedelta(days=3))

    authorized, due = aftersales(return_request())

    send_by = aftersales.clock.now() + timedelta(days=7)
    assert authorized == ReturnAuthorized(
        order_id="ord-1",
        rma="ord-1.1",
        request_id="req-1",
        resolution=Resolution.REFUND,
        lines=lines(MUG_BLUE=2, TEA_GREEN=1),
        reason="does not match the photos",
        send_by=send_by,
    )
    assert due == Scheduled(ReturnDue(order_id="ord-1", rma="ord-1.1"), send_by)


def test_a_request_id_is_answered_once(aftersales: AfterSales) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request())

    assert aftersales(return_request()) == []
    assert [case.case_id for case in aftersales.order().cases] == ["ord-1.1"]


@pytest.mark.parametrize(
    ("before", "asked", "reason"),
    [
        ("placed", return_request(), "not_delivered"),
        ("late", return_request(), "window_closed"),
        ("delivered", return_request(CUP_RED=1), "unknown_sku"),
        ("delivered", return_request(MUG_BLUE=3), "too_many"),
        ("delivered", resend_request(TEA_GREEN=2), "too_many"),
    ],
)
def test_a_request_the_policy_does_not_allow_is_refused_with_the_reason(
    aftersales: AfterSales, before: str, asked: Message, reason: str
) -> None:
    aftersales(order_placed("ord-1", lines=LINES))
    if before != "placed":
        aftersales(delivered("ord-1", aftersales.clock.now()))
    if before == "late":
        aftersales.clock.advance(timedelta(days=14, seconds=1))

    [refused] = aftersales(asked)

    assert isinstance(refused, AftersalesRequestRefused)
    assert refused.reason == reason and refused.detail
    assert aftersales.order().cases == []


def test_a_refused_request_asked_again_is_not_answered_again(aftersales: AfterSales) -> None:
    aftersales.sold_and_delivered()
    [refused] = aftersales(return_request(MUG_BLUE=3))

    assert refused.reason == "too_many"
    assert aftersales(return_request(MUG_BLUE=3)) == []


def test_a_request_for_an_order_never_heard_of_is_refused(aftersales: AfterSales) -> None:
    [refused] = aftersales(return_request())

    assert isinstance(refused, AftersalesRequestRefused)
    assert (refused.reason, refused.request) == ("unknown_order", "return")
    assert aftersales.uow.orders.get("ord-1") is None


def test_goods_under_an_rma_cannot_be_returned_twice(aftersales: AfterSales) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request("req-1", MUG_BLUE=1))

    [refused] = aftersales(return_request("req-2", MUG_BLUE=2))

    assert isinstance(refused, AftersalesRequestRefused)
    assert refused.detail == "MUG-BLUE: 2 asked, 1 may still be returned"


# -- returns ----------------------------------------------------------------------------------


def test_a_full_return_in_resellable_condition_refunds_everything_with_shipping(
    aftersales: AfterSales,
) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request())

    received, refund, closed = aftersales(receipt(MUG_BLUE=(2, 0), TEA_GREEN=(1, 0)))

    assert received == ReturnReceived(
        order_id="ord-1",
        rma="ord-1.1",
        resolution=Resolution.REFUND,
        lines=[
            InspectedLine(sku="MUG-BLUE", resellable=2),
            InspectedLine(sku="TEA-GREEN", resellable=1),
        ],
        refund=eur(TOTAL),
    )
    assert refund == RefundRequested(
        order_id="ord-1", case_id="ord-1.1", amount=eur(TOTAL), reason="returned"
    )
    assert closed == AftersalesCaseClosed(
        order_id="ord-1",
        case_id="ord-1.1",
        outcome=CaseOutcome.REFUNDED,
        refunded=eur(TOTAL),
        fully_returned=True,
    )


def test_damaged_units_are_refunded_at_the_set_percentage_and_shipping_is_kept(
    aftersales: AfterSales,
) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request(MUG_BLUE=2))

    _, refund, closed = aftersales(receipt(MUG_BLUE=(1, 1)))

    assert refund.amount == eur(1250 + 625)
    assert (closed.outcome, closed.fully_returned) == (CaseOutcome.REFUNDED, False)


def test_the_receipt_that_brings_the_last_unit_back_refunds_the_shipping_fee(
    aftersales: AfterSales,
) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request("req-1", MUG_BLUE=2))
    first = of_type(aftersales(receipt("ord-1.1", MUG_BLUE=(2, 0))), RefundRequested)
    aftersales(return_request("req-2", TEA_GREEN=1))

    results = aftersales(receipt("ord-1.2", TEA_GREEN=(1, 0)))

    [second] = of_type(results, RefundRequested)
    [closed] = of_type(results, AftersalesCaseClosed)
    assert (first[0].amount, second.amount) == (eur(2500), eur(800 + 495))
    assert closed.fully_returned


def test_less_than_authorized_is_refunded_for_what_came(aftersales: AfterSales) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request())

    [refund] = of_type(aftersales(receipt(MUG_BLUE=(1, 0))), RefundRequested)

    assert refund.amount == eur(1250)
    assert aftersales(return_request("req-2", MUG_BLUE=1, TEA_GREEN=1))[0].rma == "ord-1.2"


def test_damaged_units_at_zero_percent_close_the_case_without_a_refund(
    session_for: Callable[[Service], Session], clock: ManualClock
) -> None:
    service = bootstrap(clock, AftersalesSettings(damaged_refund_percent=0))
    aftersales = AfterSales(service, session_for(service), clock)
    aftersales.sold_and_delivered()
    aftersales(return_request(TEA_GREEN=1))

    received, closed = aftersales(receipt(TEA_GREEN=(0, 1)))

    assert received.refund == eur(0)
    assert (closed.outcome, closed.refunded) == (CaseOutcome.REFUNDED, None)


@pytest.mark.parametrize(
    ("bad_receipt", "problem"),
    [
        (receipt(MUG_BLUE=(3, 0)), "3 x MUG-BLUE received, 2 authorized"),
        (receipt("ord-1.7", MUG_BLUE=(1, 0)), "has no RMA 'ord-1.7'"),
        (receipt(MUG_BLUE=(0, 0)), "the receipt holds no goods"),
    ],
)
def test_a_receipt_that_does_not_match_its_rma_is_refused_for_an_operator(
    aftersales: AfterSales, bad_receipt: ReturnReceive, problem: str
) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request(MUG_BLUE=2))

    with pytest.raises(ReceiptRefused, match=problem):
        aftersales(bad_receipt)


def test_the_same_receipt_twice_changes_nothing_and_a_different_one_is_refused(
    aftersales: AfterSales,
) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request())
    aftersales(receipt(MUG_BLUE=(2, 0)))

    typed_in_two_lines = ReturnReceive(
        order_id="ord-1",
        rma="ord-1.1",
        lines=[InspectedLine(sku="MUG-BLUE", resellable=1)] * 2,
    )
    assert aftersales(typed_in_two_lines) == []
    with pytest.raises(ReceiptRefused, match="received already, differently"):
        aftersales(receipt(MUG_BLUE=(1, 1)))


def test_an_rma_whose_goods_never_come_expires_at_its_send_by(aftersales: AfterSales) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request())

    expired, closed = aftersales(ReturnDue(order_id="ord-1", rma="ord-1.1"))

    assert expired == ReturnExpired(order_id="ord-1", rma="ord-1.1")
    assert (closed.outcome, closed.refunded) == (CaseOutcome.EXPIRED, None)
    with pytest.raises(ReceiptRefused, match="is expired: goods arrived too late"):
        aftersales(receipt(MUG_BLUE=(2, 0)))
    assert aftersales(return_request("req-2"))[0].rma == "ord-1.2"


def test_the_send_by_timer_of_a_received_rma_does_nothing(aftersales: AfterSales) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request())
    aftersales(receipt(MUG_BLUE=(2, 0)))

    assert aftersales(ReturnDue(order_id="ord-1", rma="ord-1.1")) == []


# -- exchanges and resends ----------------------------------------------------------------------


def test_an_exchange_sends_the_received_goods_again_as_a_replacement(
    aftersales: AfterSales,
) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request(resolution=Resolution.EXCHANGE, MUG_BLUE=2))

    received, replacement = aftersales(receipt(MUG_BLUE=(0, 1)))

    assert (received.resolution, received.refund) == (Resolution.EXCHANGE, None)
    assert isinstance(replacement, ReplacementRequested)
    assert (replacement.order_id, replacement.replaces_order, replacement.request) == (
        "ord-1.1",
        "ord-1",
        "exchange",
    )
    assert replacement.lines == lines(MUG_BLUE=1)
    assert replacement.customer.email == "ada@example.com"


def test_a_delivered_replacement_closes_the_exchange_and_its_goods_may_be_returned_again(
    aftersales: AfterSales,
) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request(resolution=Resolution.EXCHANGE, MUG_BLUE=2))
    aftersales(receipt(MUG_BLUE=(2, 0)))
    [refused] = aftersales(return_request("req-2", MUG_BLUE=1))

    [closed] = aftersales(delivered("ord-1.1", aftersales.clock.now()))

    assert refused.reason == "too_many"
    assert (closed.case_id, closed.outcome) == ("ord-1.1", CaseOutcome.EXCHANGED)
    assert aftersales(delivered("ord-1.1", aftersales.clock.now())) == []
    assert aftersales(return_request("req-3", MUG_BLUE=2))[0].rma == "ord-1.2"


def test_missing_items_are_resent_at_once_and_only_once(aftersales: AfterSales) -> None:
    aftersales.sold_and_delivered()

    [replacement] = aftersales(resend_request(TEA_GREEN=1))
    [refused] = aftersales(resend_request("req-10", TEA_GREEN=1))
    [closed] = aftersales(delivered("ord-1.1", aftersales.clock.now()))

    assert (replacement.order_id, replacement.request) == ("ord-1.1", "resend")
    assert replacement.lines == lines(TEA_GREEN=1)
    assert refused.detail == "TEA-GREEN: 1 asked, 0 may still be resent"
    assert closed.outcome == CaseOutcome.RESENT


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (
            StockUnavailable(
                order_id="ord-1.1", shortages=[Shortage(sku="MUG-BLUE", requested=2, available=0)]
            ),
            "replacement_unavailable",
        ),
        (
            ShipmentReturned(
                order_id="ord-1.1",
                shipment_id="shp-ord-1.1",
                tracking_number="DPD43",
                returned_at=datetime(2026, 3, 20, tzinfo=UTC),
                attempts=3,
            ),
            "replacement_undeliverable",
        ),
    ],
)
def test_a_replacement_that_cannot_go_out_or_arrive_is_refunded_instead(
    aftersales: AfterSales, failure: Message, reason: str
) -> None:
    aftersales.sold_and_delivered()
    aftersales(return_request(resolution=Resolution.EXCHANGE, MUG_BLUE=2))
    aftersales(receipt(MUG_BLUE=(2, 0)))

    refund, closed = aftersales(failure)

    assert refund == RefundRequested(
        order_id="ord-1", case_id="ord-1.1", amount=eur(2500), reason=reason
    )
    assert (closed.outcome, closed.fully_returned) == (CaseOutcome.REFUNDED_INSTEAD, False)
    assert aftersales(failure) == []


def test_an_orders_own_shortage_or_return_to_sender_is_not_after_sales_business(
    aftersales: AfterSales,
) -> None:
    aftersales(order_placed("ord-1", lines=LINES))

    assert aftersales(StockUnavailable(order_id="ord-1", shortages=[])) == []


def test_a_replacement_goes_to_the_address_the_order_was_last_changed_to(
    aftersales: AfterSales,
) -> None:
    aftersales.sold_and_delivered()
    moved = Address(line1="9 Elm St", city="Hamburg", postal_code="20095", country="DE")
    aftersales(ShipmentAddressChanged(order_id="ord-1", address=moved))

    [replacement] = aftersales(resend_request(MUG_BLUE=1))

    assert replacement.delivery.address == moved


# -- the hot path: every order is placed and delivered -------------------------------------------


def test_a_batch_costs_the_same_few_selects_however_many_orders_it_holds(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    service = bootstrap(clock, AftersalesSettings())
    session = session_for(service)
    counter = count_queries(session)
    placed = [order_placed(f"ord-{n}") for n in range(20)]
    arrived = [delivered(f"ord-{n}", clock.now()) for n in range(20)]

    selects = []
    for batch in (placed, arrived):
        with Session(session.get_bind(), expire_on_commit=False) as transaction:
            before = counter.selects
            uow = AftersalesUnitOfWork(transaction)
            uow.preload(batch)
            for message in batch:
                assert list(service.handlers[type(message)](message, uow)) == []
            transaction.commit()
            selects.append(counter.selects - before)

    opened = session.scalars(select(Order.returnable_until)).all()
    assert opened == [clock.now() + timedelta(days=14)] * 20
    assert selects == [1, 1]
