"""Payment and order review: a held order is charged nothing until ``order.approved``, whatever
order its three events come in; a reject's ``order.cancelled`` finds nothing to give back."""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations

import pytest
from sqlalchemy.orm import Session

from services.payment.bootstrap import bootstrap
from services.payment.model import Payment
from services.payment.settings import PaymentSettings
from services.payment.status import PaymentStatus
from services.payment.store import MoneyMoved, PaymentUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    CancelReason,
    Message,
    OrderApproved,
    OrderCancelled,
    PaymentCaptured,
    PaymentDeferred,
    PaymentMethod,
    ReservedLine,
    StockReserved,
)
from shared.service import Service
from tests.factories import order_placed
from tests.unit.conftest import handle

TOTAL = 2 * 1250 + 495


@pytest.fixture
def service(clock: ManualClock) -> Service:
    return bootstrap(clock, PaymentSettings())


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> PaymentUnitOfWork:
    return PaymentUnitOfWork(session_for(service))


def reserved() -> StockReserved:
    line = ReservedLine(sku="MUG-BLUE", quantity=2, location="A-01-02", unit_weight_grams=350)
    return StockReserved(order_id="ord-1", lines=[line])


def held(method: PaymentMethod = PaymentMethod.CARD) -> Message:
    return order_placed(method=method, held_for_review=True)


APPROVED = OrderApproved(order_id="ord-1", reviewer="rita")
REJECTED = OrderCancelled(order_id="ord-1", reason=CancelReason.REVIEW_REJECTED, detail="fraud")


def payment_of(uow: PaymentUnitOfWork) -> Payment:
    payment = uow.payments.get("ord-1")
    assert payment is not None
    return payment


def test_a_held_order_with_its_stock_waits_for_approval_uncharged(
    service: Service, uow: PaymentUnitOfWork
) -> None:
    assert handle(service, held(), uow) == []
    assert handle(service, reserved(), uow) == []

    payment = payment_of(uow)
    assert payment.status == PaymentStatus.AWAITING_REVIEW
    assert uow.gateway_ledger.count(payment.payment_id) == 0


@pytest.mark.parametrize(
    "arrival",
    list(permutations(["held", "reserved", "approved"])),
    ids=lambda arrival: "-".join(arrival),
)
def test_the_last_of_order_stock_and_approval_charges_once(
    service: Service, uow: PaymentUnitOfWork, arrival: tuple[str, ...]
) -> None:
    messages = {"held": held(), "reserved": reserved(), "approved": APPROVED}

    announced = [handle(service, messages[name], uow) for name in arrival]

    assert announced[:2] == [[], []]
    [captured] = announced[2]
    assert isinstance(captured, PaymentCaptured) and captured.amount.amount == TOTAL
    assert handle(service, APPROVED, uow) == []
    assert uow.payments.money_moved("ord-1") == MoneyMoved(captured=TOTAL)
    assert uow.gateway_ledger.count(payment_of(uow).payment_id) == 1


def test_cash_on_delivery_defers_only_once_approved(
    service: Service, uow: PaymentUnitOfWork
) -> None:
    handle(service, held(PaymentMethod.CASH_ON_DELIVERY), uow)
    assert handle(service, reserved(), uow) == []

    [deferred] = handle(service, APPROVED, uow)

    assert isinstance(deferred, PaymentDeferred)


@pytest.mark.parametrize("stock_reserved", [True, False])
def test_a_rejected_held_order_is_cancelled_with_nothing_charged_or_refunded(
    service: Service, uow: PaymentUnitOfWork, stock_reserved: bool
) -> None:
    handle(service, held(), uow)
    if stock_reserved:
        handle(service, reserved(), uow)

    assert handle(service, REJECTED, uow) == []
    assert handle(service, reserved(), uow) == []

    payment = payment_of(uow)
    assert payment.status == PaymentStatus.CANCELLED
    assert uow.payments.money_moved("ord-1") == MoneyMoved()
    assert uow.gateway_ledger.count(payment.payment_id) == 0


def test_an_order_never_held_is_charged_without_an_approval(
    service: Service, uow: PaymentUnitOfWork
) -> None:
    handle(service, order_placed(), uow)

    [captured] = handle(service, reserved(), uow)

    assert isinstance(captured, PaymentCaptured)
    assert handle(service, APPROVED, uow) == []
