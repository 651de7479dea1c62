"""Payment when the order ends otherwise than paid and delivered, as a specification.

Cash on delivery is collected on delivery, or voided. A cancelled order gets back everything
kept, or its payment is voided, or (if payment never began) a tombstone makes sure nothing is
ever charged. A parcel returned to sender is refunded in full. Each refund happens once, through
the gateway, under an id derived from the payment and its cause; and whatever happens,
refunded <= captured, a cancelled order ends with captured - refunded = 0, and no more than the
total is ever kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from services.payment.gateway import SimulatedGateway
from services.payment.money import Reason, RefundRequest
from services.payment.status import PaymentStatus
from services.payment.store import MoneyMoved
from shared.clock import ManualClock
from shared.contracts import (
    Message,
    Money,
    OrderCancelled,
    PaymentCaptured,
    PaymentDeadlineDue,
    PaymentDeferred,
    PaymentInstruction,
    PaymentMethod,
    PaymentRefunded,
    PaymentVoided,
    ShipmentDelivered,
    ShipmentReturned,
)
from shared.errors import PermanentError, TransientError
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_placed
from tests.unit.payment.test_payment_transfers import (
    TOTAL,
    Till,
    eur,
    new_till,
    refunded,
    reserved,
)

COD = PaymentMethod.CASH_ON_DELIVERY
AT = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)


@pytest.fixture
def till(session_for: Callable[[Service], Session], clock: ManualClock) -> Till:
    return new_till(session_for, clock)


def delivered(order_id: str = "ord-1") -> ShipmentDelivered:
    return ShipmentDelivered(
        order_id=order_id, shipment_id="shp-1", tracking_number="TRK1", delivered_at=AT
    )


def returned(order_id: str = "ord-1") -> ShipmentReturned:
    return ShipmentReturned(
        order_id=order_id, shipment_id="shp-1", tracking_number="TRK1", returned_at=AT, attempts=3
    )


def cancelled(reason: str = "customer_cancelled", order_id: str = "ord-1") -> OrderCancelled:
    return OrderCancelled(order_id=order_id, reason=reason)


def assert_nets_to_zero(till: Till) -> None:
    money = till.money
    assert money.captured == money.refunded
    assert till.uow.gateway_ledger.refunded_by_reference().get("ord-1", 0) == money.refunded


# -- cash on delivery -----------------------------------------------------------------------


def test_cash_on_delivery_is_deferred_so_the_warehouse_may_go_ahead(till: Till) -> None:
    till(order_placed(method=COD))

    announced = till(reserved())

    assert announced == [
        PaymentDeferred(
            order_id="ord-1", payment_id=till.payment.payment_id, method=COD, amount_due=eur(TOTAL)
        )
    ]
    assert till.payment.status == PaymentStatus.DEFERRED
    assert till.money == MoneyMoved(captured=0, refunded=0)
    assert till.uow.gateway_ledger.count_by_reference("ord-1") == 0


def test_cash_is_collected_on_delivery(till: Till) -> None:
    till.start(COD)

    announced = till(delivered())

    assert announced == [
        PaymentCaptured(
            order_id="ord-1", payment_id=till.payment.payment_id, method=COD, amount=eur(TOTAL)
        )
    ]
    assert till.payment.status == PaymentStatus.CAPTURED
    assert till.money == MoneyMoved(captured=TOTAL, refunded=0)


def test_a_second_delivery_report_collects_nothing_more(till: Till) -> None:
    till.start(COD)
    till(delivered())

    assert till(delivered()) == []
    assert till.money == MoneyMoved(captured=TOTAL, refunded=0)


def test_a_delivery_means_nothing_to_a_payment_settled_before_dispatch(till: Till) -> None:
    till.start(PaymentMethod.CARD)

    assert till(delivered()) == []
    assert till(delivered("ord-404")) == []
    assert till.money == MoneyMoved(captured=TOTAL, refunded=0)


@pytest.mark.parametrize(
    ("ending", "reason"),
    [(returned(), "returned_to_sender"), (cancelled(), "cancelled")],
    ids=["returned", "cancelled"],
)
def test_cash_never_collected_is_voided(till: Till, ending: Message, reason: str) -> None:
    till.start(COD)

    announced = till(ending)

    assert announced == [
        PaymentVoided(order_id="ord-1", payment_id=till.payment.payment_id, reason=reason)
    ]
    assert till.payment.status == PaymentStatus.VOIDED
    assert till.money == MoneyMoved(captured=0, refunded=0)
    assert till.uow.gateway_ledger.refunds_for("ord-1") == []


def test_a_returned_parcel_then_the_cancelled_order_void_cash_once(till: Till) -> None:
    till.start(COD)
    till(returned())

    assert till(cancelled("delivery_failed")) == []
    assert till(delivered()) == []
    assert till.payment.status == PaymentStatus.VOIDED


# -- cancelled before payment began: tombstones ---------------------------------------------


@pytest.mark.parametrize("stock_first", [False, True], ids=["order-late", "stock-late"])
@pytest.mark.parametrize("method", [PaymentMethod.CARD, PaymentMethod.BANK_TRANSFER, COD])
def test_an_order_cancelled_before_payment_heard_of_it_is_never_charged(
    till: Till, method: PaymentMethod, stock_first: bool
) -> None:
    assert till(cancelled("out_of_stock")) == []

    late = (
        [reserved(), order_placed(method=method)]
        if stock_first
        else [order_placed(method=method), reserved()]
    )
    assert [announced for message in late for announced in till(message)] == []
    assert till.payment.status == PaymentStatus.CANCELLED
    assert till.money == MoneyMoved(captured=0, refunded=0)
    assert till.uow.gateway_ledger.count_by_reference("ord-1") == 0


@pytest.mark.parametrize("known_first", ["order", "stock"])
def test_an_order_cancelled_while_payment_waits_for_the_other_half_is_never_charged(
    till: Till, known_first: str
) -> None:
    till(order_placed(method=PaymentMethod.CARD) if known_first == "order" else reserved())

    assert till(cancelled("out_of_stock")) == []
    assert (
        till(reserved() if known_first == "order" else order_placed(method=PaymentMethod.CARD))
        == []
    )
    assert till.payment.status == PaymentStatus.CANCELLED
    assert till.uow.gateway_ledger.count_by_reference("ord-1") == 0


# -- refunds of money taken -----------------------------------------------------------------


@pytest.mark.parametrize("method", [PaymentMethod.CARD, PaymentMethod.E_WALLET])
def test_cancelling_after_a_card_capture_refunds_it_all_to_the_card(
    till: Till, method: PaymentMethod
) -> None:
    till.start(method)

    announced = till(cancelled())

    assert announced == [refunded(till, TOTAL, "cancelled")]
    assert till.payment.status == PaymentStatus.REFUNDED
    assert_nets_to_zero(till)
    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert (entry.route, entry.reason, entry.amount) == (method.value, "cancelled", TOTAL)


def test_cancelling_after_a_transfer_refunds_what_is_kept_by_bank(till: Till) -> None:
    till.start(PaymentMethod.BANK_TRANSFER)
    till.pay(TOTAL + 300)

    announced = till(cancelled())

    assert announced == [refunded(till, TOTAL, "cancelled")]
    assert till.money == MoneyMoved(captured=TOTAL + 300, refunded=TOTAL + 300)
    assert_nets_to_zero(till)
    assert {entry.route for entry in till.uow.gateway_ledger.refunds_for("ord-1")} == {"bank"}


def test_cancelling_after_cash_was_collected_refunds_it_by_bank(till: Till) -> None:
    till.start(COD)
    till(delivered())

    assert till(cancelled()) == [refunded(till, TOTAL, "cancelled")]
    assert_nets_to_zero(till)


@pytest.mark.parametrize(
    "method", [PaymentMethod.CARD, PaymentMethod.E_WALLET, PaymentMethod.BANK_TRANSFER]
)
def test_a_parcel_returned_to_sender_is_refunded_in_full(till: Till, method: PaymentMethod) -> None:
    till.start(method)
    if method == PaymentMethod.BANK_TRANSFER:
        till.pay(TOTAL)

    announced = till(returned())

    assert announced == [refunded(till, TOTAL, "returned_to_sender")]
    assert till.payment.status == PaymentStatus.REFUNDED
    assert_nets_to_zero(till)


@pytest.mark.parametrize("returned_first", [True, False], ids=["returned-first", "cancel-first"])
def test_a_return_and_the_cancel_it_causes_refund_once_whichever_comes_first(
    till: Till, returned_first: bool
) -> None:
    till.start(PaymentMethod.CARD)
    first, second = (returned(), cancelled()) if returned_first else (cancelled(), returned())

    [refund] = till(first)

    assert till(second) == []
    assert isinstance(refund, PaymentRefunded)
    assert len(till.uow.gateway_ledger.refunds_for("ord-1")) == 1
    assert_nets_to_zero(till)


def test_a_repeated_cancel_refunds_nothing_more(till: Till) -> None:
    till.start(PaymentMethod.CARD)
    till(cancelled())

    assert till(cancelled()) == []
    assert till.money == MoneyMoved(captured=TOTAL, refunded=TOTAL)


def test_cancelling_a_failed_payment_has_nothing_to_give_back(till: Till) -> None:
    till(order_placed(payment=PaymentInstruction(method=PaymentMethod.CARD, token="tok_decline")))
    till(reserved())

    assert till(cancelled("payment_failed")) == []
    assert till.payment.status == PaymentStatus.FAILED
    assert till.money == MoneyMoved(captured=0, refunded=0)


def test_cancelling_an_expired_payment_has_nothing_more_to_give_back(till: Till) -> None:
    till.start(PaymentMethod.BANK_TRANSFER)
    till.pay(1000)
    till(PaymentDeadlineDue(order_id="ord-1"))

    assert till(cancelled("payment_expired")) == []
    assert till.payment.status == PaymentStatus.EXPIRED
    assert_nets_to_zero(till)


def test_the_charge_is_counted_once_and_refunds_are_not_charges(till: Till) -> None:
    till.start(PaymentMethod.CARD)
    till(cancelled())

    ledger = till.uow.gateway_ledger
    assert ledger.approved_by_reference() == {"ord-1": 1}
    assert ledger.count_by_reference("ord-1") == 1
    assert ledger.refunded_by_reference() == {"ord-1": TOTAL}


# -- the gateway's side of a refund ---------------------------------------------------------


def refund_request(amount: int = TOTAL, token: str | None = None) -> RefundRequest:
    return RefundRequest(
        idempotency_key="rf_pay_1:cancelled",
        reference="ord-1",
        amount=Money(amount=amount, currency="EUR"),
        reason=Reason.CANCELLED,
        route="card",
        token=token,
    )


def test_the_gateway_refunds_once_per_refund_id(till: Till) -> None:
    gateway = SimulatedGateway()

    gateway.refund(refund_request(), till.uow.gateway_ledger)
    gateway.refund(refund_request(), till.uow.gateway_ledger)

    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert (entry.kind, entry.amount, entry.attempts) == ("refund", TOTAL, 2)


def test_the_gateway_refuses_a_refund_id_reused_for_another_amount(till: Till) -> None:
    gateway = SimulatedGateway()
    gateway.refund(refund_request(), till.uow.gateway_ledger)

    with pytest.raises(PermanentError, match="rf_pay_1:cancelled was used for a refund of"):
        gateway.refund(refund_request(amount=1), till.uow.gateway_ledger)


def test_a_refund_that_times_out_is_retried_by_the_runtime_and_made_once(till: Till) -> None:
    def until_done(message: Message) -> tuple[list[Message | Scheduled], int]:
        """What the runtime does: commit, or roll back on a timeout and try again."""
        for timeouts in range(10):
            try:
                announced = till(message)
            except TransientError:
                till.uow.session.rollback()
                continue
            till.uow.session.commit()
            return announced, timeouts
        raise AssertionError("the gateway never answered")

    till(order_placed(payment=PaymentInstruction(method=PaymentMethod.CARD, token="tok_transient")))
    till.uow.session.commit()
    until_done(reserved())

    [refund], timeouts = until_done(cancelled())

    assert isinstance(refund, PaymentRefunded)
    assert timeouts == 2
    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert entry.attempts == 3
    assert_nets_to_zero(till)
