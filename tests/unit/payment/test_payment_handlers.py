"""Payment, as a specification: charge a card or e-wallet once the order and its stock are both
known, once only; and whatever a batch holds, lock its rows with a few queries.

Bank transfers and escrow: ``test_payment_transfers.py``; cash on delivery, cancellations,
returns and refunds: ``test_payment_refunds.py``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from services.payment.bootstrap import bootstrap
from services.payment.gateway import SimulatedGateway
from services.payment.model import Payment
from services.payment.money import ChargeOutcome, ChargeRequest
from services.payment.settings import PaymentSettings
from services.payment.status import PAYMENT_MACHINE, PaymentStatus
from services.payment.store import MoneyMoved, PaymentUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Message,
    Money,
    OrderCancelled,
    OrderPlaced,
    PaymentCaptured,
    PaymentDeadlineDue,
    PaymentFailed,
    PaymentMethod,
    PaymentNotification,
    PaymentReminderDue,
    RefundRequested,
    ReservedLine,
    ShipmentDelivered,
    ShipmentReturned,
    StockReserved,
)
from shared.errors import IllegalTransition, PermanentError, TransientError
from shared.service import Service
from tests.factories import APPROVED_TOKEN, order_placed
from tests.unit.conftest import QueryCounter, handle

TOTAL = Money(amount=2 * 1250 + 495, currency="EUR")


@pytest.fixture
def service(clock: ManualClock) -> Service:
    return bootstrap(clock, PaymentSettings())


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> PaymentUnitOfWork:
    return PaymentUnitOfWork(session_for(service))


@pytest.fixture
def gateway() -> SimulatedGateway:
    return SimulatedGateway(transient_failures=2)


def reserved(order_id: str = "ord-1") -> StockReserved:
    line = ReservedLine(sku="MUG-BLUE", quantity=2, location="A-01-02", unit_weight_grams=350)
    return StockReserved(order_id=order_id, lines=[line])


def payment_of(uow: PaymentUnitOfWork, order_id: str = "ord-1") -> Payment:
    payment = uow.payments.get(order_id)
    assert payment is not None
    return payment


def test_an_order_alone_records_a_payment_intent_awaiting_its_stock(
    service: Service, uow: PaymentUnitOfWork
) -> None:
    assert handle(service, order_placed(), uow) == []

    payment = payment_of(uow)
    assert payment.status == PaymentStatus.AWAITING_STOCK
    assert payment.payment_id.startswith("pay_")
    assert (payment.total, payment.paid_by, payment.token) == (TOTAL, "card", APPROVED_TOKEN)
    assert uow.gateway_ledger.count(payment.payment_id) == 0


def test_reserved_stock_alone_waits_for_its_order(service: Service, uow: PaymentUnitOfWork) -> None:
    assert handle(service, reserved(), uow) == []

    assert payment_of(uow).status == PaymentStatus.AWAITING_ORDER


@pytest.mark.parametrize("stock_first", [False, True], ids=["order-first", "stock-first"])
def test_the_second_of_the_two_events_captures_the_order_total(
    service: Service, uow: PaymentUnitOfWork, stock_first: bool
) -> None:
    if stock_first:
        handle(service, reserved(), uow)
        [event] = handle(service, order_placed(), uow)
    else:
        handle(service, order_placed(), uow)
        [event] = handle(service, reserved(), uow)

    payment = payment_of(uow)
    assert event == PaymentCaptured(
        order_id="ord-1", payment_id=payment.payment_id, method=PaymentMethod.CARD, amount=TOTAL
    )
    assert payment.status == PaymentStatus.CAPTURED
    assert uow.payments.money_moved("ord-1") == MoneyMoved(captured=TOTAL.amount, refunded=0)
    assert uow.gateway_ledger.count(payment.payment_id) == 1


def test_an_e_wallet_is_charged_like_a_card(service: Service, uow: PaymentUnitOfWork) -> None:
    handle(service, order_placed(method=PaymentMethod.E_WALLET, token="tok_wallet"), uow)

    [event] = handle(service, reserved(), uow)

    assert isinstance(event, PaymentCaptured)
    assert event.method == PaymentMethod.E_WALLET


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("tok_decline", "declined"),
        ("tok_decline_insufficient_funds", "insufficient_funds"),
        ("4242424242424242", "invalid_token"),
        (None, "invalid_token"),
    ],
)
def test_a_declined_charge_fails_the_payment_with_the_gateways_reason(
    service: Service, uow: PaymentUnitOfWork, token: str | None, reason: str
) -> None:
    handle(service, order_placed(token=token), uow)

    [event] = handle(service, reserved(), uow)

    assert isinstance(event, PaymentFailed)
    assert event.reason == reason
    assert payment_of(uow).status == PaymentStatus.FAILED
    assert uow.payments.money_moved("ord-1") == MoneyMoved(captured=0, refunded=0)


def test_a_gateway_timeout_leaves_the_retry_to_the_runtime_and_charges_once(
    service: Service, uow: PaymentUnitOfWork
) -> None:
    handle(service, order_placed(token="tok_transient"), uow)
    uow.session.commit()

    for _attempt in range(2):
        with pytest.raises(TransientError):
            handle(service, reserved(), uow)
        uow.session.rollback()
    [event] = handle(service, reserved(), uow)

    assert isinstance(event, PaymentCaptured)
    charge = uow.gateway_ledger.find(event.payment_id)
    assert charge is not None
    assert (charge.outcome, charge.attempts) == ("approved", 3)
    assert uow.gateway_ledger.count_by_reference("ord-1") == 1


def test_duplicate_and_late_events_after_a_capture_change_nothing(
    service: Service, uow: PaymentUnitOfWork
) -> None:
    handle(service, order_placed(), uow)
    handle(service, reserved(), uow)

    assert handle(service, reserved(), uow) == []
    assert handle(service, order_placed(), uow) == []
    assert payment_of(uow).status == PaymentStatus.CAPTURED
    assert uow.gateway_ledger.count_by_reference("ord-1") == 1


def test_a_duplicate_before_the_charge_changes_nothing(
    service: Service, uow: PaymentUnitOfWork
) -> None:
    handle(service, reserved(), uow)

    assert handle(service, reserved(), uow) == []
    assert payment_of(uow).status == PaymentStatus.AWAITING_ORDER


def test_events_after_a_failure_change_nothing(service: Service, uow: PaymentUnitOfWork) -> None:
    handle(service, order_placed(token="tok_decline"), uow)
    handle(service, reserved(), uow)

    assert handle(service, reserved(), uow) == []
    assert handle(service, order_placed(), uow) == []
    assert payment_of(uow).status == PaymentStatus.FAILED


def test_payment_ids_are_stable_per_order_so_retries_reuse_the_idempotency_key(
    service: Service, uow: PaymentUnitOfWork, clock: ManualClock
) -> None:
    handle(service, order_placed(), uow)
    handle(service, order_placed("ord-2"), uow)

    assert Payment.for_order(order_placed(), clock.now()).payment_id == payment_of(uow).payment_id
    assert payment_of(uow, "ord-2").payment_id != payment_of(uow).payment_id


def test_the_gateway_answers_a_repeated_key_with_its_stored_outcome(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway
) -> None:
    request = ChargeRequest("pay_1", "ord-1", TOTAL, "tok_ok")

    first = gateway.charge(request, uow.gateway_ledger)
    again = gateway.charge(request, uow.gateway_ledger)

    assert first == again
    assert first.approved
    assert uow.gateway_ledger.count("pay_1") == 1
    assert uow.gateway_ledger.find("pay_1").attempts == 2  # type: ignore[union-attr]


def test_the_gateway_refuses_a_repeated_key_for_another_amount(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway
) -> None:
    gateway.charge(ChargeRequest("pay_1", "ord-1", TOTAL, "tok_ok"), uow.gateway_ledger)
    other = Money(amount=1, currency="EUR")

    with pytest.raises(PermanentError, match="idempotency key pay_1"):
        gateway.charge(ChargeRequest("pay_1", "ord-1", other, "tok_ok"), uow.gateway_ledger)


def test_bootstrap_reads_the_gateway_settings_from_the_environment(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_PAYMENT_GATEWAY_TRANSIENT_FAILURES", "0")
    service = bootstrap(clock)
    uow = PaymentUnitOfWork(session_for(service))

    service.handlers[OrderPlaced](order_placed(token="tok_transient"), uow)
    [event] = service.handlers[StockReserved](reserved(), uow)

    assert isinstance(event, PaymentCaptured)


def test_the_closed_statuses_are_the_terminal_ones() -> None:
    closed = {status for status in PaymentStatus if not PAYMENT_MACHINE.following(status)}
    assert closed == PAYMENT_MACHINE.terminal
    assert closed == {
        PaymentStatus.FAILED,
        PaymentStatus.EXPIRED,
        PaymentStatus.VOIDED,
        PaymentStatus.REFUNDED,
        PaymentStatus.CANCELLED,
    }


def test_a_payment_opens_only_waiting_for_its_other_half_or_as_a_tombstone(
    clock: ManualClock,
) -> None:
    with pytest.raises(IllegalTransition, match="cannot start out pending"):
        Payment.opened("ord-1", PaymentStatus.PENDING, clock.now())


def test_a_settled_payment_cannot_be_settled_again(clock: ManualClock) -> None:
    payment = Payment.for_order(order_placed(), clock.now())
    payment.take_stock_reservation(clock.now())
    payment.settle(ChargeOutcome(approved=True), clock.now())

    with pytest.raises(IllegalTransition, match="cannot go from captured to failed"):
        payment.settle(ChargeOutcome(approved=False, reason="declined"), clock.now())


# -- a batch of mixed messages --------------------------------------------------------------

AT = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
Story = tuple[list[Message], list[Message], MoneyMoved]
"""What an order went through before the batch, what the batch brings, and the money after."""


def bank(
    order_id: str, amount: int, notification_id: str, currency: str = "EUR"
) -> PaymentNotification:
    return PaymentNotification(
        order_id=order_id,
        notification_id=f"{order_id}:{notification_id}",
        amount=Money(amount=amount, currency=currency),
        received_at=AT,
    )


def refund_for_case(order_id: str, n: int, amount: int) -> RefundRequested:
    return RefundRequested(
        order_id=order_id,
        case_id=f"{order_id}.{n}",
        amount=Money(amount=amount, currency="EUR"),
        reason="returned",
    )


def replacement(order_id: str, n: int) -> StockReserved:
    return StockReserved(order_id=f"{order_id}.{n}", lines=[], replaces_order=order_id)


def stories(o: str) -> list[Story]:
    card, transfer = (
        order_placed(o, method=PaymentMethod.CARD),
        order_placed(o, method=PaymentMethod.BANK_TRANSFER),
    )
    cod, total = order_placed(o, method=PaymentMethod.CASH_ON_DELIVERY), TOTAL.amount
    cancelled = OrderCancelled(order_id=o, reason="customer_cancelled")
    returned = ShipmentReturned(
        order_id=o, shipment_id="s", tracking_number="t", returned_at=AT, attempts=3
    )
    delivered = ShipmentDelivered(order_id=o, shipment_id="s", tracking_number="t", delivered_at=AT)
    return [
        ([card], [reserved(o), cancelled], MoneyMoved(total, total)),
        (
            [transfer, reserved(o)],
            [bank(o, 1000, "a"), bank(o, total, "b"), PaymentReminderDue(order_id=o, number=1)],
            MoneyMoved(total + 1000, 1000),
        ),
        ([cod, reserved(o)], [delivered], MoneyMoved(total, 0)),
        ([], [cancelled, reserved(o), card], MoneyMoved(0, 0)),
        (
            [transfer, reserved(o), bank(o, 1000, "a")],
            [PaymentDeadlineDue(order_id=o), bank(o, 500, "late")],
            MoneyMoved(1500, 1500),
        ),
        ([card, reserved(o)], [returned, cancelled], MoneyMoved(total, total)),
        (
            [card, reserved(o), delivered],
            [
                refund_for_case(o, 1, 1000),
                replacement(o, 2),
                refund_for_case(o, 1, 1000),
                refund_for_case(o, 3, total),
            ],
            MoneyMoved(total, total),
        ),
        (
            [cod, reserved(o), delivered],
            [replacement(o, 1), refund_for_case(o, 2, 500)],
            MoneyMoved(total, 500),
        ),
        # money the bank reports before the payment starts: held, then counted or given back
        ([], [bank(o, total + 300, "a"), transfer, reserved(o)], MoneyMoved(total + 300, 300)),
        (
            [bank(o, 1000, "a")],
            [reserved(o), transfer, bank(o, 1000, "a"), bank(o, total, "b")],
            MoneyMoved(total + 1000, 1000),
        ),
        (
            [reserved(o), bank(o, 700, "a")],
            [card, cancelled],
            MoneyMoved(total + 700, total + 700),
        ),
        ([bank(o, 900, "a"), cod], [reserved(o), delivered], MoneyMoved(total + 900, 900)),
        ([transfer, bank(o, 500, "a")], [cancelled, bank(o, 200, "b")], MoneyMoved(700, 700)),
        (
            [bank(o, 400, "a", "USD")],
            [transfer, reserved(o), bank(o, total, "b")],
            MoneyMoved(total + 400, 400),
        ),
    ]


def test_a_batch_costs_the_same_few_selects_however_many_orders_it_holds(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    """One locking SELECT each for payments, the gateway's ledger and bank receipts, in that
    order, whatever the batch holds: charges, bank money (early money held, then counted or
    given back, included), timers, deliveries, cancels, returns, after-sales' refunds per case
    and replacements' reservations (which open no payment)."""

    def selects_for(rounds: int) -> int:
        service = bootstrap(clock, PaymentSettings())
        earlier = session_for(service)
        batch: list[Message] = []
        expected: dict[str, MoneyMoved] = {}
        for n in range(rounds):
            for s in range(len(stories("-"))):
                order_id = f"ord-{n:02}-{s}"
                before, during, expected[order_id] = stories(order_id)[s]
                for message in before:
                    list(service.handlers[type(message)](message, PaymentUnitOfWork(earlier)))
                batch += during
        earlier.commit()

        session = Session(earlier.get_bind(), expire_on_commit=False)
        uow = PaymentUnitOfWork(session)
        counter = count_queries(session)
        uow.preload(batch)
        for message in batch:
            list(service.handlers[type(message)](message, uow))
        session.commit()
        selects = counter.selects

        moved = uow.payments.money_moved_by_order()
        assert moved == expected
        refunds = {o: m.refunded for o, m in moved.items() if m.refunded}
        assert uow.gateway_ledger.refunded_by_reference() == refunds
        assert set(uow.gateway_ledger.approved_by_reference().values()) == {1}
        session.close()
        return selects

    assert selects_for(5) == selects_for(1) <= 3
