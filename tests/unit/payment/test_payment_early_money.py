"""Money the bank reports before the payment asks for it, as a specification.

A customer may pay by transfer (the order id as the reference) before payment has heard of the
order, or of its stock. The money is held: it counts as taken in (``captured_amount``), recorded
once per notification id, and nothing is announced. When the payment starts, a bank transfer or
escrow counts it: captured at once if it covers the total (anything more goes back, no reminders,
no deadline), else pending with that much received. A card, e-wallet or cash on delivery gives it
all back by bank (``not_expected``), then goes on as usual. An order cancelled before its payment
started gets it all back. Each of these refunds happens once, under an id of the payment and its
reason; a cancelled order nets to zero and a paid one keeps exactly its total.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from services.payment.money import Reason, ledger_keys, refund_id_for
from services.payment.status import NOT_STARTED, PAYMENT_MACHINE, PaymentStatus
from services.payment.store import MoneyMoved
from shared.clock import ManualClock
from shared.contracts import (
    Message,
    Money,
    OrderCancelled,
    PaymentCaptured,
    PaymentDeadlineDue,
    PaymentDeferred,
    PaymentFailed,
    PaymentHoldDue,
    PaymentInstruction,
    PaymentMethod,
    PaymentPending,
    PaymentRefunded,
    PaymentReminder,
    PaymentReminderDue,
)
from shared.errors import PermanentError
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_placed
from tests.unit.payment.test_payment_transfers import (
    DAY,
    TOTAL,
    WAITING_METHODS,
    Till,
    eur,
    new_till,
    notification,
    refunded,
    reserved,
)

COD = PaymentMethod.CASH_ON_DELIVERY
BANK_TRANSFER = PaymentMethod.BANK_TRANSFER
EARLY = ["before-both-order-next", "before-both-stock-next", "before-order", "before-stock"]
"""When the money comes: before payment heard of anything (then the order, or the stock, comes
first), after the stock but before the order, or after the order but before the stock."""
HELD_IN = {
    "before-both-order-next": PaymentStatus.AWAITING_BOTH,
    "before-both-stock-next": PaymentStatus.AWAITING_BOTH,
    "before-order": PaymentStatus.AWAITING_ORDER,
    "before-stock": PaymentStatus.AWAITING_STOCK,
}


@pytest.fixture
def till(session_for: Callable[[Service], Session], clock: ManualClock) -> Till:
    return new_till(session_for, clock)


def pay_early(
    till: Till, when: str, amounts: list[int], method: PaymentMethod = BANK_TRANSFER
) -> list[object]:
    """The bank reports ``amounts`` at ``when``; returns what the payment's start announced."""
    held_status = HELD_IN[when]
    first, second = (
        (reserved(), order_placed(method=method))
        if when in ("before-both-stock-next", "before-order")
        else (order_placed(method=method), reserved())
    )
    if when in ("before-order", "before-stock"):
        assert till(first) == []
    for n, amount in enumerate(amounts, start=1):
        assert without_hold(till.pay(amount, f"n-{n}")) == []
        assert till.payment.status == held_status
    if when.startswith("before-both"):
        assert till(first) == []
    return list(till(second))


def without_hold(results: list[Message | Scheduled]) -> list[Message | Scheduled]:
    """What a notification announced, less the hold timer money for an unknown order sets."""
    return [
        r
        for r in results
        if not (isinstance(r, Scheduled) and isinstance(r.message, PaymentHoldDue))
    ]


# -- held until the payment starts ------------------------------------------------------------


@pytest.mark.parametrize("when", EARLY)
def test_money_before_the_payment_starts_is_held_and_announces_nothing(
    till: Till, when: str
) -> None:
    held_status = HELD_IN[when]
    if when == "before-order":
        till(reserved())
    if when == "before-stock":
        till(order_placed(method=BANK_TRANSFER))

    assert without_hold(till.pay(1000)) == []

    assert till.payment.status == held_status
    assert till.money == MoneyMoved(captured=1000, refunded=0)
    receipt = till.uow.receipts.get("n-1")
    assert receipt is not None
    assert (receipt.order_id, receipt.amount, receipt.currency, receipt.returned) == (
        "ord-1",
        1000,
        "EUR",
        0,
    )
    assert till.uow.gateway_ledger.refunds_for("ord-1") == []


@pytest.mark.parametrize("stock_next", [False, True], ids=["order-next", "stock-next"])
def test_money_before_both_opens_a_payment_the_order_and_stock_still_advance(
    till: Till, stock_next: bool
) -> None:
    till.pay(1000)
    assert till.payment.status == PaymentStatus.AWAITING_BOTH

    till(reserved() if stock_next else order_placed(method=BANK_TRANSFER))

    waiting = PaymentStatus.AWAITING_ORDER if stock_next else PaymentStatus.AWAITING_STOCK
    assert till.payment.status == waiting
    assert (
        till(reserved() if stock_next else order_placed(method=BANK_TRANSFER)) == []
    )  # a duplicate changes nothing
    assert till.payment.status == waiting


def test_a_notification_reported_twice_before_the_payment_starts_counts_once(
    till: Till,
) -> None:
    till.pay(1000, "n-1")

    assert till.pay(1000, "n-1") == []
    assert till.money == MoneyMoved(captured=1000, refunded=0)


def test_a_repeated_early_notification_is_received_once_when_the_payment_starts(
    till: Till,
) -> None:
    till.pay(1000, "n-1")
    till.pay(1000, "n-1")
    till(order_placed(method=BANK_TRANSFER))

    [pending, *timers] = till(reserved())

    assert isinstance(pending, PaymentPending)
    assert pending.received == eur(1000)
    assert len(timers) == 3
    assert till.money == MoneyMoved(captured=1000, refunded=0)


# -- a transfer or escrow counts what is held ----------------------------------------------------


@pytest.mark.parametrize("when", EARLY)
@pytest.mark.parametrize("method", WAITING_METHODS)
def test_held_money_that_covers_the_total_captures_it_at_once_with_nothing_scheduled(
    till: Till, when: str, method: PaymentMethod
) -> None:
    announced = pay_early(till, when, [TOTAL], method)

    assert announced == [
        PaymentCaptured(
            order_id="ord-1", payment_id=till.payment.payment_id, method=method, amount=eur(TOTAL)
        )
    ]
    assert till.payment.status == PaymentStatus.CAPTURED
    assert till.payment.deadline is None
    assert till.money == MoneyMoved(captured=TOTAL, refunded=0)
    assert till.uow.gateway_ledger.count_by_reference("ord-1") == 0  # nothing charged
    assert till(PaymentReminderDue(order_id="ord-1", number=1)) == []
    assert till(PaymentDeadlineDue(order_id="ord-1")) == []


def test_parts_held_that_add_up_to_the_total_capture_it_at_once(till: Till) -> None:
    [captured] = pay_early(till, "before-both-order-next", [1000, TOTAL - 1000])

    assert isinstance(captured, PaymentCaptured)
    assert till.money == MoneyMoved(captured=TOTAL, refunded=0)


@pytest.mark.parametrize("when", EARLY)
def test_held_money_beyond_the_total_captures_it_and_gives_the_excess_back_by_bank(
    till: Till, when: str
) -> None:
    captured, refund = pay_early(till, when, [1000, TOTAL])

    assert isinstance(captured, PaymentCaptured)
    assert refund == refunded(till, 1000, "overpayment")
    assert till.money == MoneyMoved(captured=TOTAL + 1000, refunded=1000)
    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert (entry.idempotency_key, entry.amount, entry.route, entry.reason) == (
        refund_id_for(till.payment.payment_id, Reason.OVERPAYMENT),
        1000,
        "bank",
        "overpayment",
    )


@pytest.mark.parametrize("when", EARLY)
def test_part_of_the_total_held_makes_it_pending_with_that_part_received(
    till: Till, clock: ManualClock, when: str
) -> None:
    announced = pay_early(till, when, [1000])

    payment_id = till.payment.payment_id
    now, deadline = clock.now(), clock.now() + 7 * DAY
    assert announced == [
        PaymentPending(
            order_id="ord-1",
            payment_id=payment_id,
            method=BANK_TRANSFER,
            amount_due=eur(TOTAL),
            received=eur(1000),
            deadline=deadline,
            reference=payment_id,
        ),
        Scheduled(PaymentReminderDue(order_id="ord-1", number=1), now + 2 * DAY),
        Scheduled(PaymentReminderDue(order_id="ord-1", number=2), now + 5 * DAY),
        Scheduled(PaymentDeadlineDue(order_id="ord-1"), deadline),
    ]
    assert till.payment.status == PaymentStatus.PENDING
    [reminder] = till(PaymentReminderDue(order_id="ord-1", number=1))
    assert isinstance(reminder, PaymentReminder)
    assert reminder.balance == eur(TOTAL - 1000)


def test_the_rest_after_a_held_part_captures_and_a_repeat_of_the_held_one_counts_nothing(
    till: Till,
) -> None:
    pay_early(till, "before-stock", [1000])

    assert till.pay(1000, "n-1") == []
    [captured] = till.pay(TOTAL - 1000, "n-2")

    assert isinstance(captured, PaymentCaptured)
    assert till.money == MoneyMoved(captured=TOTAL, refunded=0)


def test_a_held_part_left_unpaid_goes_back_at_the_deadline(till: Till) -> None:
    pay_early(till, "before-both-stock-next", [1000])

    _expired, refund = till(PaymentDeadlineDue(order_id="ord-1"))

    assert refund == refunded(till, 1000, "expired")
    assert till.money == MoneyMoved(captured=1000, refunded=1000)


def test_money_after_a_capture_at_once_goes_back_as_late(till: Till) -> None:
    pay_early(till, "before-order", [TOTAL])

    [refund] = till.pay(700, "n-late")

    assert refund == refunded(till, 700, "late_payment", "late_payment:n-late")
    assert till.money.captured - till.money.refunded == TOTAL


# -- a card, e-wallet or cash on delivery gives it back -----------------------------------------


@pytest.mark.parametrize("when", EARLY)
@pytest.mark.parametrize("method", [PaymentMethod.CARD, PaymentMethod.E_WALLET])
def test_a_card_or_e_wallet_order_gives_held_bank_money_back_in_full_then_is_charged(
    till: Till, when: str, method: PaymentMethod
) -> None:
    refund, captured = pay_early(till, when, [TOTAL + 300], method)

    assert refund == refunded(till, TOTAL + 300, "not_expected")
    assert captured == PaymentCaptured(
        order_id="ord-1", payment_id=till.payment.payment_id, method=method, amount=eur(TOTAL)
    )
    assert till.payment.status == PaymentStatus.CAPTURED
    assert till.money == MoneyMoved(captured=2 * TOTAL + 300, refunded=TOTAL + 300)
    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert (entry.route, entry.amount, entry.reason) == ("bank", TOTAL + 300, "not_expected")
    assert till.uow.gateway_ledger.approved_by_reference() == {"ord-1": 1}


def test_a_card_order_with_held_money_cancelled_after_the_charge_refunds_the_card(
    till: Till,
) -> None:
    pay_early(till, "before-stock", [500], PaymentMethod.CARD)

    [refund] = till(OrderCancelled(order_id="ord-1", reason="customer_cancelled"))

    assert refund == refunded(till, TOTAL, "cancelled")
    assert till.money == MoneyMoved(captured=TOTAL + 500, refunded=TOTAL + 500)
    routes = {e.reason: e.route for e in till.uow.gateway_ledger.refunds_for("ord-1")}
    assert routes == {"not_expected": "bank", "cancelled": "card"}


def test_a_declined_card_with_held_money_gives_it_back_and_fails(till: Till) -> None:
    till.pay(800)
    till(order_placed(payment=PaymentInstruction(method=PaymentMethod.CARD, token="tok_decline")))

    refund, failed = till(reserved())

    assert refund == refunded(till, 800, "not_expected")
    assert isinstance(failed, PaymentFailed)
    assert till.money == MoneyMoved(captured=800, refunded=800)


def test_cash_on_delivery_gives_held_bank_money_back_then_defers(till: Till) -> None:
    refund, deferred = pay_early(till, "before-both-order-next", [TOTAL], COD)

    assert refund == refunded(till, TOTAL, "not_expected")
    assert deferred == PaymentDeferred(
        order_id="ord-1", payment_id=till.payment.payment_id, method=COD, amount_due=eur(TOTAL)
    )
    assert till.payment.status == PaymentStatus.DEFERRED
    assert till.money == MoneyMoved(captured=TOTAL, refunded=TOTAL)


# -- cancelled before the payment started -------------------------------------------------------


@pytest.mark.parametrize("method", [BANK_TRANSFER, PaymentMethod.CARD])
@pytest.mark.parametrize("known", ["nothing", "order", "stock"])
def test_an_order_cancelled_with_money_held_gets_it_all_back_by_bank(
    till: Till, known: str, method: PaymentMethod
) -> None:
    if known == "order":
        till(order_placed(method=method))
    if known == "stock":
        till(reserved())
    till.pay(1000, "n-1")
    till.pay(TOTAL, "n-2")

    [refund] = till(OrderCancelled(order_id="ord-1", reason="out_of_stock"))

    assert refund == refunded(till, TOTAL + 1000, "cancelled")
    assert till.payment.status == PaymentStatus.CANCELLED
    assert till.money == MoneyMoved(captured=TOTAL + 1000, refunded=TOTAL + 1000)
    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert (entry.route, entry.amount) == ("bank", TOTAL + 1000)
    # a repeated cancel, the late other half and late money give back nothing twice
    assert till(OrderCancelled(order_id="ord-1", reason="out_of_stock")) == []
    assert [a for m in (order_placed(method=method), reserved()) for a in till(m)] == []
    [late] = till.pay(300, "n-3")
    assert late == refunded(till, 300, "late_payment", "late_payment:n-3")
    assert till.money.captured == till.money.refunded
    assert till.uow.gateway_ledger.count_by_reference("ord-1") == 0


def test_an_order_cancelled_with_nothing_held_leaves_only_a_tombstone(till: Till) -> None:
    till(reserved())

    assert till(OrderCancelled(order_id="ord-1", reason="out_of_stock")) == []
    assert till.uow.gateway_ledger.refunds_for("ord-1") == []


# -- currencies ---------------------------------------------------------------------------------


def test_money_in_another_currency_than_a_known_order_s_is_parked(till: Till) -> None:
    till(order_placed(method=BANK_TRANSFER))

    with pytest.raises(PermanentError, match="USD received for a EUR payment"):
        till(notification(TOTAL, currency="USD"))


def test_money_in_another_currency_than_money_held_is_parked(till: Till) -> None:
    till.pay(1000)

    with pytest.raises(PermanentError, match="USD received for a EUR payment"):
        till(notification(1000, "n-2", currency="USD"))


@pytest.mark.parametrize("stock_first", [False, True], ids=["order-next", "stock-next"])
def test_money_held_in_another_currency_goes_back_when_the_order_comes(
    till: Till, stock_first: bool
) -> None:
    till(notification(2000, "n-usd", currency="USD"))
    if stock_first:
        till(reserved())

    announced = till(order_placed(method=BANK_TRANSFER))

    payment_id = till.payment.payment_id
    refund = PaymentRefunded(
        order_id="ord-1",
        payment_id=payment_id,
        refund_id=refund_id_for(payment_id, Reason.WRONG_CURRENCY),
        amount=Money(amount=2000, currency="USD"),
        reason="wrong_currency",
    )
    assert announced[0] == refund
    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert (entry.currency, entry.amount, entry.route) == ("USD", 2000, "bank")
    if not stock_first:
        announced += till(reserved())
    pending = announced[1]
    assert isinstance(pending, PaymentPending)
    assert pending.received == eur(0)
    [captured] = till.pay(TOTAL, "n-eur")
    assert isinstance(captured, PaymentCaptured)
    assert till.money.captured - till.money.refunded == TOTAL


# -- the state machine and the keys a batch locks -------------------------------------------------


def test_a_payment_holding_money_waits_for_both_halves() -> None:
    both = PaymentStatus.AWAITING_BOTH
    assert both in PAYMENT_MACHINE.initial
    assert both in NOT_STARTED
    assert PAYMENT_MACHINE.following(both) == {
        PaymentStatus.AWAITING_STOCK,
        PaymentStatus.AWAITING_ORDER,
        PaymentStatus.CANCELLED,
    }


def test_the_order_and_its_stock_lock_the_refund_ids_of_held_money() -> None:
    for message in (order_placed(method=BANK_TRANSFER), reserved()):
        keys = ledger_keys(message)
        payment_id = keys[0]
        for reason in (Reason.NOT_EXPECTED, Reason.OVERPAYMENT, Reason.WRONG_CURRENCY):
            assert refund_id_for(payment_id, reason) in keys
        assert refund_id_for(payment_id, Reason.CANCELLED) in keys


# -- money for an order that never comes --------------------------------------------------------


def test_money_for_an_order_payment_never_heard_of_is_held_for_the_payment_window(
    till: Till, clock: ManualClock
) -> None:
    [hold] = till.pay(1000)

    assert hold == Scheduled(
        PaymentHoldDue(order_id="ord-1", since=clock.now()), clock.now() + 7 * DAY
    )
    assert till.pay(500, "n-2") == []  # one hold, from the first money


def test_unclaimed_money_goes_back_by_bank_when_its_hold_ends(
    till: Till, clock: ManualClock
) -> None:
    [hold] = till.pay(1000)
    till.pay(500, "n-2")
    clock.advance(7 * DAY)

    [refund] = till(hold.message)

    assert isinstance(refund, PaymentRefunded)
    assert (refund.amount, refund.reason) == (eur(1500), Reason.UNCLAIMED)
    assert till.money == MoneyMoved(captured=1500, refunded=1500)
    assert till.payment.status == PaymentStatus.AWAITING_BOTH
    assert till(hold.message) == []


def test_an_order_that_comes_after_its_held_money_went_back_is_paid_as_usual(
    till: Till, clock: ManualClock
) -> None:
    [hold] = till.pay(1000)
    till(hold.message)

    till(order_placed(method=PaymentMethod.CARD))
    [captured] = till(reserved())

    assert isinstance(captured, PaymentCaptured)
    assert till.money == MoneyMoved(captured=1000 + TOTAL, refunded=1000)


def test_money_held_again_after_a_hold_ended_has_a_hold_of_its_own(
    till: Till, clock: ManualClock
) -> None:
    [first] = till.pay(1000)
    till(first.message)
    clock.advance(DAY)

    [second] = till.pay(700, "n-2")
    [refund] = till(second.message)

    assert refund.amount == eur(700)
    assert till.money == MoneyMoved(captured=1700, refunded=1700)


def test_the_hold_of_a_payment_that_heard_of_its_order_does_nothing(till: Till) -> None:
    [hold] = till.pay(1000)
    till(order_placed(method=BANK_TRANSFER))

    assert till(hold.message) == []
    assert till.money == MoneyMoved(captured=1000, refunded=0)
