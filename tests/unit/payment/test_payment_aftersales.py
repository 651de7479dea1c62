"""Payment after delivery, as a specification: after-sales' refunds and replacements.

A replacement (an exchange's new goods, a resend) is reserved under its case id and shipped free
of charge: payment never opens a payment for it. ``refund.requested`` gives money back once per
case, under the refund id ``rf_<payment id>:case:<case id>``, the way it came (a card's or
e-wallet's token, else by bank), and never more than the payment still keeps: the payment stays
captured while it keeps anything, and is refunded once it keeps nothing. Whatever happens,
refunded <= captured.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from services.payment.model import RefundNotPossible
from services.payment.status import PaymentStatus
from services.payment.store import MoneyMoved
from shared.clock import ManualClock
from shared.contracts import (
    Message,
    Money,
    OrderCancelled,
    PaymentDeadlineDue,
    PaymentInstruction,
    PaymentMethod,
    PaymentRefunded,
    RefundRequested,
    ReservedLine,
    StockReserved,
)
from shared.errors import PermanentError, TransientError
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_placed
from tests.unit.payment.test_payment_refunds import delivered
from tests.unit.payment.test_payment_transfers import TOTAL, Till, eur, new_till, reserved

COD = PaymentMethod.CASH_ON_DELIVERY
TOKEN_METHODS = [PaymentMethod.CARD, PaymentMethod.E_WALLET]
BANK_METHODS = [PaymentMethod.BANK_TRANSFER, PaymentMethod.ESCROW, COD]


@pytest.fixture
def till(session_for: Callable[[Service], Session], clock: ManualClock) -> Till:
    return new_till(session_for, clock)


def paid(till: Till, method: PaymentMethod) -> None:
    """The order's total is captured (and the parcel delivered), whatever the method."""
    till.start(method)
    if method in (PaymentMethod.BANK_TRANSFER, PaymentMethod.ESCROW):
        till.pay(TOTAL)
    till(delivered())
    assert till.payment.status == PaymentStatus.CAPTURED


def refund_requested(
    amount: int, case: int = 1, reason: str = "returned", currency: str = "EUR"
) -> RefundRequested:
    return RefundRequested(
        order_id="ord-1",
        case_id=f"ord-1.{case}",
        amount=Money(amount=amount, currency=currency),
        reason=reason,
    )


def case_refunded(
    till: Till, amount: int, case: int = 1, reason: str = "returned"
) -> PaymentRefunded:
    payment_id = till.payment.payment_id
    return PaymentRefunded(
        order_id="ord-1",
        payment_id=payment_id,
        refund_id=f"rf_{payment_id}:case:ord-1.{case}",
        amount=eur(amount),
        reason=reason,
    )


def replacement_reserved(case: int = 1) -> StockReserved:
    line = ReservedLine(sku="MUG-BLUE", quantity=1, location="A-01-02", unit_weight_grams=350)
    return StockReserved(order_id=f"ord-1.{case}", lines=[line], replaces_order="ord-1")


def assert_books_balance(till: Till) -> None:
    """Refunded never exceeds captured, and the gateway gave back what the payment says."""
    money = till.money
    assert 0 <= money.refunded <= money.captured
    assert till.uow.gateway_ledger.refunded_by_reference().get("ord-1", 0) == money.refunded


# -- replacements are free of charge --------------------------------------------------------


@pytest.mark.parametrize("method", [PaymentMethod.CARD, PaymentMethod.BANK_TRANSFER, COD])
def test_a_replacement_s_reservation_opens_no_payment_and_charges_nothing(
    till: Till, method: PaymentMethod
) -> None:
    paid(till, method)

    assert till(replacement_reserved()) == []
    assert till(replacement_reserved()) == []

    assert till.uow.payments.get("ord-1.1") is None
    assert till.uow.payments.money_moved_by_order() == {"ord-1": MoneyMoved(TOTAL, 0)}
    assert till.uow.gateway_ledger.count_by_reference("ord-1.1") == 0
    assert till.uow.gateway_ledger.approved_by_reference().get("ord-1", 1) == 1


def test_a_replacement_s_reservation_never_starts_the_original_order_s_payment(
    till: Till,
) -> None:
    """Only the order's own reservation is its stock: the replacement's names it, but is not it."""
    till(order_placed(method=PaymentMethod.CARD))

    assert till(replacement_reserved()) == []

    assert till.payment.status == PaymentStatus.AWAITING_STOCK
    assert till.uow.gateway_ledger.count_by_reference("ord-1") == 0


# -- refunds of a case ----------------------------------------------------------------------


@pytest.mark.parametrize("method", TOKEN_METHODS)
def test_a_case_is_refunded_to_the_token_and_the_payment_stays_captured(
    till: Till, method: PaymentMethod
) -> None:
    paid(till, method)

    announced = till(refund_requested(1250))

    assert announced == [case_refunded(till, 1250)]
    assert till.payment.status == PaymentStatus.CAPTURED
    assert till.money == MoneyMoved(captured=TOTAL, refunded=1250)
    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert (entry.idempotency_key, entry.route, entry.amount, entry.reason) == (
        f"rf_{till.payment.payment_id}:case:ord-1.1",
        method.value,
        1250,
        "returned",
    )
    assert_books_balance(till)


@pytest.mark.parametrize("method", BANK_METHODS)
def test_money_that_came_by_bank_escrow_or_cash_goes_back_by_bank(
    till: Till, method: PaymentMethod
) -> None:
    paid(till, method)

    assert till(refund_requested(1250)) == [case_refunded(till, 1250)]

    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert entry.route == "bank"
    assert till.payment.status == PaymentStatus.CAPTURED
    assert_books_balance(till)


@pytest.mark.parametrize(
    "reason", ["returned", "replacement_unavailable", "replacement_undeliverable"]
)
def test_the_refund_is_announced_with_the_reason_after_sales_gave(till: Till, reason: str) -> None:
    paid(till, PaymentMethod.CARD)

    [refund] = till(refund_requested(500, reason=reason))

    assert refund == case_refunded(till, 500, reason=reason)


def test_a_case_is_refunded_once_however_often_it_is_asked(till: Till) -> None:
    paid(till, PaymentMethod.CARD)
    till(refund_requested(1250))

    assert till(refund_requested(1250)) == []
    assert till(refund_requested(999)) == []

    assert till.money == MoneyMoved(captured=TOTAL, refunded=1250)
    assert len(till.uow.gateway_ledger.refunds_for("ord-1")) == 1
    assert till.payment.case_refunds == {"ord-1.1": 1250}


def test_each_case_is_refunded_on_its_own_and_the_last_penny_makes_it_refunded(
    till: Till,
) -> None:
    paid(till, PaymentMethod.CARD)

    [first] = till(refund_requested(1250, case=1))
    assert till.payment.status == PaymentStatus.CAPTURED
    [second] = till(refund_requested(TOTAL - 1250, case=2))

    assert (first, second) == (case_refunded(till, 1250, 1), case_refunded(till, TOTAL - 1250, 2))
    assert till.payment.status == PaymentStatus.REFUNDED
    assert till.money == MoneyMoved(captured=TOTAL, refunded=TOTAL)
    assert len(till.uow.gateway_ledger.refunds_for("ord-1")) == 2
    assert_books_balance(till)


def test_a_refund_is_capped_at_what_the_payment_still_keeps(till: Till) -> None:
    paid(till, PaymentMethod.CARD)
    till(refund_requested(2000, case=1))

    assert till(refund_requested(2000, case=2)) == [case_refunded(till, TOTAL - 2000, 2)]

    assert till.payment.status == PaymentStatus.REFUNDED
    assert till.money == MoneyMoved(captured=TOTAL, refunded=TOTAL)
    assert till.payment.case_refunds == {"ord-1.1": 2000, "ord-1.2": TOTAL - 2000}
    assert_books_balance(till)


def test_a_refund_of_more_than_the_total_gives_back_the_total(till: Till) -> None:
    paid(till, PaymentMethod.BANK_TRANSFER)

    assert till(refund_requested(TOTAL * 3)) == [case_refunded(till, TOTAL)]
    assert till.payment.status == PaymentStatus.REFUNDED
    assert_books_balance(till)


def test_a_case_asked_again_after_the_payment_is_refunded_changes_nothing(till: Till) -> None:
    paid(till, PaymentMethod.CARD)
    till(refund_requested(TOTAL))

    assert till(refund_requested(TOTAL)) == []
    assert till.payment.status == PaymentStatus.REFUNDED


def test_a_refund_for_nothing_changes_nothing(till: Till) -> None:
    paid(till, PaymentMethod.CARD)

    assert till(refund_requested(0)) == []

    assert till.payment.status == PaymentStatus.CAPTURED
    assert till.money == MoneyMoved(captured=TOTAL, refunded=0)
    assert till.uow.gateway_ledger.refunds_for("ord-1") == []


def test_a_cancel_after_a_case_refund_gives_back_only_what_is_still_kept(till: Till) -> None:
    """No cancel follows a delivery in the saga; the books hold even if an operator sends one."""
    paid(till, PaymentMethod.CARD)
    till(refund_requested(1250))

    [refund] = till(OrderCancelled(order_id="ord-1", reason="customer_cancelled"))

    assert isinstance(refund, PaymentRefunded) and refund.amount == eur(TOTAL - 1250)
    assert till.money == MoneyMoved(captured=TOTAL, refunded=TOTAL)
    assert_books_balance(till)


def test_a_case_refund_that_times_out_is_retried_by_the_runtime_and_made_once(
    till: Till,
) -> None:
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

    [refund], timeouts = until_done(refund_requested(1250))

    assert refund == case_refunded(till, 1250)
    assert timeouts == 2
    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert entry.attempts == 3
    assert till.money == MoneyMoved(captured=TOTAL, refunded=1250)
    assert till.payment.case_refunds == {"ord-1.1": 1250}


# -- refunds payment cannot make: parked ----------------------------------------------------


def test_a_refund_for_an_order_payment_does_not_know_is_parked(till: Till) -> None:
    with pytest.raises(RefundNotPossible, match=r"ord-1\.1 asks for a refund but payment knows no"):
        till(refund_requested(1250))

    assert issubclass(RefundNotPossible, PermanentError)


def test_a_new_case_after_everything_was_given_back_is_parked(till: Till) -> None:
    paid(till, PaymentMethod.CARD)
    till(refund_requested(TOTAL, case=1))

    with pytest.raises(RefundNotPossible, match=r"ord-1\.2 asks for 100 EUR back, but all its"):
        till(refund_requested(100, case=2))
    assert till.money == MoneyMoved(captured=TOTAL, refunded=TOTAL)


@pytest.mark.parametrize(
    ("story", "status"),
    [
        ([order_placed(method=PaymentMethod.CARD)], "awaiting_stock"),
        ([order_placed(method=PaymentMethod.BANK_TRANSFER), reserved()], "pending"),
        ([order_placed(method=COD), reserved()], "deferred"),
        (
            [
                order_placed(method=PaymentMethod.BANK_TRANSFER),
                reserved(),
                PaymentDeadlineDue(order_id="ord-1"),
            ],
            "expired",
        ),
        ([OrderCancelled(order_id="ord-1", reason="out_of_stock")], "cancelled"),
        (
            [
                order_placed(
                    payment=PaymentInstruction(method=PaymentMethod.CARD, token="tok_decline")
                ),
                reserved(),
            ],
            "failed",
        ),
    ],
    ids=["awaiting-stock", "pending", "deferred", "expired", "tombstone", "failed"],
)
def test_a_refund_from_a_payment_that_captured_nothing_is_parked(
    till: Till, story: list[Message], status: str
) -> None:
    for message in story:
        till(message)

    with pytest.raises(RefundNotPossible, match=f"its payment is {status}: nothing captured"):
        till(refund_requested(1250))
    assert till.payment.status == status
    assert till.payment.case_refunds == {}
    assert_books_balance(till)


def test_a_refund_in_another_currency_is_parked(till: Till) -> None:
    paid(till, PaymentMethod.CARD)

    with pytest.raises(RefundNotPossible, match="its payment is in EUR"):
        till(refund_requested(1250, currency="USD"))
    assert till.money == MoneyMoved(captured=TOTAL, refunded=0)
