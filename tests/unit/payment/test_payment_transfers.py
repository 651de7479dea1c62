"""Payment by bank transfer or escrow, as a specification: ask for the money with a reference,
remind the customer while it has not all arrived, expire at the deadline; keep exactly the order's
total and give back anything more, or anything that comes too late.

Money that comes before the payment asks for it: ``test_payment_early_money.py``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from services.payment.bootstrap import bootstrap
from services.payment.model import Payment
from services.payment.settings import PaymentSettings
from services.payment.status import PaymentStatus
from services.payment.store import MoneyMoved, PaymentUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Message,
    Money,
    OrderCancelled,
    PaymentCaptured,
    PaymentDeadlineDue,
    PaymentExpired,
    PaymentMethod,
    PaymentNotification,
    PaymentPending,
    PaymentRefunded,
    PaymentReminder,
    PaymentReminderDue,
    PaymentVoided,
    ReservedLine,
    StockReserved,
)
from shared.errors import PermanentError
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_placed

TOTAL = 2 * 1250 + 495
DAY = timedelta(days=1)
BANK_TRANSFER = PaymentMethod.BANK_TRANSFER
WAITING_METHODS = [PaymentMethod.BANK_TRANSFER, PaymentMethod.ESCROW]


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


class Till:
    """Payment's bound handlers over one unit of work, as the runtime calls them."""

    def __init__(self, service: Service, uow: PaymentUnitOfWork, clock: ManualClock) -> None:
        self.service = service
        self.uow = uow
        self.clock = clock

    def __call__(self, message: Message) -> list[Message | Scheduled]:
        return list(self.service.handlers[type(message)](message, self.uow))

    def start(self, method: PaymentMethod = BANK_TRANSFER, order_id: str = "ord-1") -> None:
        self(order_placed(order_id, method=method))
        self(reserved(order_id))

    def pay(self, amount: int, notification_id: str = "n-1") -> list[Message | Scheduled]:
        return self(notification(amount, notification_id))

    @property
    def payment(self) -> Payment:
        payment = self.uow.payments.get("ord-1")
        assert payment is not None
        return payment

    @property
    def money(self) -> MoneyMoved:
        return self.uow.payments.money_moved("ord-1")


def new_till(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    settings: PaymentSettings | None = None,
) -> Till:
    """A week to pay, reminders after two and five days, unless ``settings`` say otherwise."""
    week = PaymentSettings(
        window_seconds=7 * 86400, reminder_offsets_seconds=[2 * 86400, 5 * 86400]
    )
    service = bootstrap(clock, settings or week)
    return Till(service, PaymentUnitOfWork(session_for(service)), clock)


@pytest.fixture
def till(session_for: Callable[[Service], Session], clock: ManualClock) -> Till:
    return new_till(session_for, clock)


def reserved(order_id: str = "ord-1") -> StockReserved:
    line = ReservedLine(sku="MUG-BLUE", quantity=2, location="A-01-02", unit_weight_grams=350)
    return StockReserved(order_id=order_id, lines=[line])


def notification(
    amount: int, notification_id: str = "n-1", currency: str = "EUR", order_id: str = "ord-1"
) -> PaymentNotification:
    return PaymentNotification(
        order_id=order_id,
        notification_id=notification_id,
        amount=Money(amount=amount, currency=currency),
        received_at=datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
    )


def refunded(till: Till, amount: int, reason: str, cause: str | None = None) -> PaymentRefunded:
    payment_id = till.payment.payment_id
    return PaymentRefunded(
        order_id="ord-1",
        payment_id=payment_id,
        refund_id=f"rf_{payment_id}:{cause or reason}",
        amount=eur(amount),
        reason=reason,
    )


# -- asking for the money -------------------------------------------------------------------


@pytest.mark.parametrize("method", WAITING_METHODS)
@pytest.mark.parametrize("stock_first", [False, True], ids=["order-first", "stock-first"])
def test_a_transfer_asks_for_the_total_with_a_reference_two_reminders_and_a_deadline(
    till: Till, clock: ManualClock, method: PaymentMethod, stock_first: bool
) -> None:
    first, second = (
        (reserved(), order_placed(method=method))
        if stock_first
        else (order_placed(method=method), reserved())
    )
    till(first)

    announced = till(second)

    payment_id = till.payment.payment_id
    now, deadline = clock.now(), clock.now() + 7 * DAY
    assert announced == [
        PaymentPending(
            order_id="ord-1",
            payment_id=payment_id,
            method=method,
            amount_due=eur(TOTAL),
            received=eur(0),
            deadline=deadline,
            reference=payment_id,
        ),
        Scheduled(PaymentReminderDue(order_id="ord-1", number=1), now + 2 * DAY),
        Scheduled(PaymentReminderDue(order_id="ord-1", number=2), now + 5 * DAY),
        Scheduled(PaymentDeadlineDue(order_id="ord-1"), deadline),
    ]
    assert till.payment.status == PaymentStatus.PENDING
    assert till.uow.gateway_ledger.count_by_reference("ord-1") == 0


def test_no_reminder_is_scheduled_at_or_after_the_deadline(
    session_for: Callable[[Service], Session], clock: ManualClock
) -> None:
    settings = PaymentSettings(
        window_seconds=3 * 86400, reminder_offsets_seconds=[5 * 86400, 86400]
    )
    till = new_till(session_for, clock, settings)
    till(order_placed(method=BANK_TRANSFER))

    announced = till(reserved())

    reminders = [s.message for s in announced if isinstance(s, Scheduled)][:-1]
    assert reminders == [PaymentReminderDue(order_id="ord-1", number=1)]
    deadline = announced[-1]
    assert isinstance(deadline, Scheduled)
    assert deadline.due == clock.now() + 3 * DAY


def test_the_window_and_reminders_come_from_the_environment(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_PAYMENT_WINDOW_SECONDS", "60")
    monkeypatch.setenv("ORDERFLOW_PAYMENT_REMINDER_OFFSETS_SECONDS", "[20, 40]")
    till = new_till(session_for, clock, PaymentSettings())
    till(order_placed(method=BANK_TRANSFER))

    announced = till(reserved())

    assert [s.due - clock.now() for s in announced if isinstance(s, Scheduled)] == [
        timedelta(seconds=20),
        timedelta(seconds=40),
        timedelta(seconds=60),
    ]


# -- money arrives --------------------------------------------------------------------------


@pytest.mark.parametrize("method", WAITING_METHODS)
def test_the_exact_total_captures_the_payment(till: Till, method: PaymentMethod) -> None:
    till.start(method)

    announced = till.pay(TOTAL)

    assert announced == [
        PaymentCaptured(
            order_id="ord-1", payment_id=till.payment.payment_id, method=method, amount=eur(TOTAL)
        )
    ]
    assert till.payment.status == PaymentStatus.CAPTURED
    assert till.money == MoneyMoved(captured=TOTAL, refunded=0)
    assert till.uow.gateway_ledger.approved_by_reference() == {}


def test_part_of_the_total_keeps_the_payment_pending_and_shows_what_came(
    till: Till, clock: ManualClock
) -> None:
    till.start()

    [pending] = till.pay(1000)

    assert isinstance(pending, PaymentPending)
    assert (pending.amount_due, pending.received) == (eur(TOTAL), eur(1000))
    assert pending.deadline == clock.now() + 7 * DAY
    assert till.payment.status == PaymentStatus.PENDING
    assert till.money == MoneyMoved(captured=1000, refunded=0)


def test_parts_that_add_up_to_the_total_capture_it(till: Till) -> None:
    till.start()
    till.pay(1000, "n-1")
    [pending] = till.pay(1000, "n-2")
    assert isinstance(pending, PaymentPending)
    assert pending.received == eur(2000)

    [captured] = till.pay(TOTAL - 2000, "n-3")

    assert isinstance(captured, PaymentCaptured)
    assert captured.amount == eur(TOTAL)
    assert till.money == MoneyMoved(captured=TOTAL, refunded=0)


def test_more_than_the_total_captures_it_and_gives_the_excess_back(till: Till) -> None:
    till.start()

    captured, refund = till.pay(TOTAL + 500)

    assert isinstance(captured, PaymentCaptured)
    assert captured.amount == eur(TOTAL)
    assert refund == refunded(till, 500, "overpayment", "overpayment:n-1")
    assert till.money == MoneyMoved(captured=TOTAL + 500, refunded=500)
    [entry] = till.uow.gateway_ledger.refunds_for("ord-1")
    assert (entry.idempotency_key, entry.amount, entry.route) == (refund.refund_id, 500, "bank")


def test_a_part_then_too_much_keeps_exactly_the_total(till: Till) -> None:
    till.start()
    till.pay(2000, "n-1")

    captured, refund = till.pay(1500, "n-2")

    assert isinstance(captured, PaymentCaptured)
    assert refund == refunded(till, 2000 + 1500 - TOTAL, "overpayment", "overpayment:n-2")
    assert till.money.captured - till.money.refunded == TOTAL


def test_a_notification_reported_twice_counts_once(till: Till) -> None:
    till.start()
    till.pay(1000, "n-1")

    assert till.pay(1000, "n-1") == []
    assert till.money == MoneyMoved(captured=1000, refunded=0)
    receipt = till.uow.receipts.get("n-1")
    assert receipt is not None
    assert (receipt.amount, receipt.returned) == (1000, 0)


def test_a_repeated_overpayment_gives_the_excess_back_once(till: Till) -> None:
    till.start()
    till.pay(TOTAL + 500)

    assert till.pay(TOTAL + 500) == []
    assert till.uow.gateway_ledger.refunded_by_reference() == {"ord-1": 500}


def close_by_capture(till: Till) -> None:
    till.pay(TOTAL, "n-0")


def close_by_expiry(till: Till) -> None:
    till(PaymentDeadlineDue(order_id="ord-1"))


def close_by_cancel(till: Till) -> None:
    till(OrderCancelled(order_id="ord-1", reason="customer_cancelled"))


@pytest.mark.parametrize(
    ("close", "status"),
    [
        (close_by_capture, PaymentStatus.CAPTURED),
        (close_by_expiry, PaymentStatus.EXPIRED),
        (close_by_cancel, PaymentStatus.VOIDED),
    ],
    ids=["captured", "expired", "voided"],
)
def test_money_for_a_payment_no_longer_pending_all_goes_back(
    till: Till, close: Callable[[Till], None], status: PaymentStatus
) -> None:
    till.start()
    close(till)
    before = till.money

    announced = till.pay(700, "n-late")

    assert announced == [refunded(till, 700, "late_payment", "late_payment:n-late")]
    assert till.payment.status == status
    assert till.money == MoneyMoved(before.captured + 700, before.refunded + 700)
    receipt = till.uow.receipts.get("n-late")
    assert receipt is not None
    assert receipt.returned == 700


def test_money_for_an_order_cancelled_before_payment_began_goes_back(till: Till) -> None:
    till(OrderCancelled(order_id="ord-1", reason="out_of_stock"))

    [refund] = till.pay(TOTAL, "n-9")

    assert isinstance(refund, PaymentRefunded)
    assert (refund.amount, refund.reason) == (eur(TOTAL), "late_payment")
    assert till.money == MoneyMoved(captured=TOTAL, refunded=TOTAL)


def test_money_in_another_currency_is_parked_for_an_operator(till: Till) -> None:
    till.start()

    with pytest.raises(PermanentError, match="USD received for a EUR payment"):
        till(notification(TOTAL, currency="USD"))


# -- reminders and the deadline -------------------------------------------------------------


def test_a_reminder_while_pending_tells_the_balance_and_the_deadline(
    till: Till, clock: ManualClock
) -> None:
    till.start()
    till.pay(1000)

    announced = till(PaymentReminderDue(order_id="ord-1", number=2))

    payment_id = till.payment.payment_id
    assert announced == [
        PaymentReminder(
            order_id="ord-1",
            payment_id=payment_id,
            number=2,
            balance=eur(TOTAL - 1000),
            deadline=clock.now() + 7 * DAY,
            reference=payment_id,
        )
    ]


@pytest.mark.parametrize(
    "close", [close_by_capture, close_by_expiry, close_by_cancel], ids=["paid", "expired", "void"]
)
def test_the_timers_of_a_closed_payment_do_nothing(
    till: Till, close: Callable[[Till], None]
) -> None:
    till.start()
    close(till)

    assert till(PaymentReminderDue(order_id="ord-1", number=1)) == []
    assert till(PaymentDeadlineDue(order_id="ord-1")) == []


def test_timers_of_a_card_payment_or_an_unknown_order_do_nothing(till: Till) -> None:
    till.start(PaymentMethod.CARD)

    assert till(PaymentReminderDue(order_id="ord-1", number=1)) == []
    assert till(PaymentDeadlineDue(order_id="ord-1")) == []
    assert till(PaymentDeadlineDue(order_id="ord-404")) == []


@pytest.mark.parametrize("method", WAITING_METHODS)
def test_the_deadline_expires_an_unpaid_payment(till: Till, method: PaymentMethod) -> None:
    till.start(method)

    announced = till(PaymentDeadlineDue(order_id="ord-1"))

    assert announced == [
        PaymentExpired(order_id="ord-1", payment_id=till.payment.payment_id, method=method)
    ]
    assert till.payment.status == PaymentStatus.EXPIRED
    assert till.money == MoneyMoved(captured=0, refunded=0)


def test_the_deadline_gives_back_what_part_of_the_money_came(till: Till) -> None:
    till.start()
    till.pay(1000)

    expired, refund = till(PaymentDeadlineDue(order_id="ord-1"))

    assert isinstance(expired, PaymentExpired)
    assert refund == refunded(till, 1000, "expired")
    assert till.money == MoneyMoved(captured=1000, refunded=1000)
    assert till.uow.gateway_ledger.refunded_by_reference() == {"ord-1": 1000}


def test_cancelling_a_pending_transfer_voids_it_and_gives_back_what_came(till: Till) -> None:
    till.start()
    till.pay(1000)

    voided, refund = till(OrderCancelled(order_id="ord-1", reason="customer_cancelled"))

    payment_id = till.payment.payment_id
    assert voided == PaymentVoided(order_id="ord-1", payment_id=payment_id, reason="cancelled")
    assert refund == refunded(till, 1000, "cancelled")
    assert till.payment.status == PaymentStatus.VOIDED
    assert till.money == MoneyMoved(captured=1000, refunded=1000)


def test_cancelling_a_pending_transfer_with_nothing_received_only_voids_it(till: Till) -> None:
    till.start()

    [voided] = till(OrderCancelled(order_id="ord-1", reason="customer_cancelled"))

    assert isinstance(voided, PaymentVoided)
    assert till.uow.gateway_ledger.refunds_for("ord-1") == []
