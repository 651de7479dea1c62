"""Payment, as a specification: charge once the order and its stock are both known, once only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from services.payment import worker
from services.payment.gateway import SimulatedGateway
from services.payment.handlers import on_order_placed, on_stock_reserved
from services.payment.model import ChargeOutcome, ChargeRequest, Payment, PaymentStatus
from services.payment.settings import PaymentSettings
from services.payment.store import MoneyMoved, PaymentUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    Message,
    Money,
    OrderPlaced,
    PaymentCaptured,
    PaymentFailed,
    PaymentInstruction,
    PaymentMethod,
    ReservedLine,
    StockReserved,
)
from shared.errors import PermanentError, TransientError
from shared.handlers import Service
from tests.factories import order_placed
from tests.unit.conftest import QueryCounter

TOTAL = Money(amount=2 * 1250 + 495, currency="EUR")


@pytest.fixture
def uow(session_for: Callable[[Service], Session]) -> PaymentUnitOfWork:
    return PaymentUnitOfWork(session_for(worker.bootstrap(settings=PaymentSettings())))


@pytest.fixture
def gateway() -> SimulatedGateway:
    return SimulatedGateway(transient_failures=2)


def placed(method: PaymentMethod = PaymentMethod.CARD, token: str | None = "tok_ok") -> OrderPlaced:
    return order_placed(payment=PaymentInstruction(method=method, token=token))


def reserved(order_id: str = "ord-1") -> StockReserved:
    line = ReservedLine(sku="MUG-BLUE", quantity=2, location="A-01-02", unit_weight_grams=350)
    return StockReserved(order_id=order_id, lines=[line])


def payment_of(uow: PaymentUnitOfWork, order_id: str = "ord-1") -> Payment:
    payment = uow.payments.get(order_id)
    assert payment is not None
    return payment


def test_an_order_alone_records_a_payment_intent_awaiting_its_stock(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: ManualClock
) -> None:
    assert on_order_placed(placed(), uow, gateway, clock) == []

    payment = payment_of(uow)
    assert payment.status == PaymentStatus.AWAITING_STOCK
    assert payment.payment_id.startswith("pay_")
    assert (payment.total, payment.paid_by, payment.token) == (TOTAL, "card", "tok_ok")
    assert uow.gateway_ledger.count(payment.payment_id) == 0


def test_reserved_stock_alone_waits_for_its_order(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: ManualClock
) -> None:
    assert on_stock_reserved(reserved(), uow, gateway, clock) == []

    assert payment_of(uow).status == PaymentStatus.AWAITING_ORDER


@pytest.mark.parametrize("stock_first", [False, True], ids=["order-first", "stock-first"])
def test_the_second_of_the_two_events_captures_the_order_total(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: ManualClock, stock_first: bool
) -> None:
    if stock_first:
        on_stock_reserved(reserved(), uow, gateway, clock)
        [event] = on_order_placed(placed(), uow, gateway, clock)
    else:
        on_order_placed(placed(), uow, gateway, clock)
        [event] = on_stock_reserved(reserved(), uow, gateway, clock)

    payment = payment_of(uow)
    assert event == PaymentCaptured(
        order_id="ord-1", payment_id=payment.payment_id, method=PaymentMethod.CARD, amount=TOTAL
    )
    assert payment.status == PaymentStatus.CAPTURED
    assert uow.payments.money_moved("ord-1") == MoneyMoved(captured=TOTAL.amount, refunded=0)
    assert uow.gateway_ledger.count(payment.payment_id) == 1


def test_an_e_wallet_is_charged_like_a_card(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: ManualClock
) -> None:
    on_order_placed(placed(PaymentMethod.E_WALLET, "tok_wallet"), uow, gateway, clock)

    [event] = on_stock_reserved(reserved(), uow, gateway, clock)

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
    uow: PaymentUnitOfWork,
    gateway: SimulatedGateway,
    clock: ManualClock,
    token: str | None,
    reason: str,
) -> None:
    on_order_placed(placed(token=token), uow, gateway, clock)

    [event] = on_stock_reserved(reserved(), uow, gateway, clock)

    assert isinstance(event, PaymentFailed)
    assert event.reason == reason
    assert payment_of(uow).status == PaymentStatus.FAILED
    assert uow.payments.money_moved("ord-1") == MoneyMoved(captured=0, refunded=0)


def test_a_gateway_timeout_leaves_the_retry_to_the_runtime_and_charges_once(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: ManualClock
) -> None:
    on_order_placed(placed(token="tok_transient"), uow, gateway, clock)
    uow.session.commit()

    for _attempt in range(2):
        with pytest.raises(TransientError):
            on_stock_reserved(reserved(), uow, gateway, clock)
        uow.session.rollback()
    [event] = on_stock_reserved(reserved(), uow, gateway, clock)

    assert isinstance(event, PaymentCaptured)
    charge = uow.gateway_ledger.find(event.payment_id)
    assert charge is not None
    assert (charge.outcome, charge.attempts) == ("approved", 3)
    assert uow.gateway_ledger.count_by_reference("ord-1") == 1


def test_duplicate_and_late_events_after_a_capture_change_nothing(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: ManualClock
) -> None:
    on_order_placed(placed(), uow, gateway, clock)
    on_stock_reserved(reserved(), uow, gateway, clock)

    assert on_stock_reserved(reserved(), uow, gateway, clock) == []
    assert on_order_placed(placed(), uow, gateway, clock) == []
    assert payment_of(uow).status == PaymentStatus.CAPTURED
    assert uow.gateway_ledger.count_by_reference("ord-1") == 1


def test_a_duplicate_before_the_charge_changes_nothing(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: ManualClock
) -> None:
    on_stock_reserved(reserved(), uow, gateway, clock)

    assert on_stock_reserved(reserved(), uow, gateway, clock) == []
    assert payment_of(uow).status == PaymentStatus.AWAITING_ORDER


def test_events_after_a_failure_change_nothing(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: ManualClock
) -> None:
    on_order_placed(placed(token="tok_decline"), uow, gateway, clock)
    on_stock_reserved(reserved(), uow, gateway, clock)

    assert on_stock_reserved(reserved(), uow, gateway, clock) == []
    assert on_order_placed(placed(), uow, gateway, clock) == []
    assert payment_of(uow).status == PaymentStatus.FAILED


@pytest.mark.parametrize(
    "method",
    [PaymentMethod.BANK_TRANSFER, PaymentMethod.ESCROW, PaymentMethod.CASH_ON_DELIVERY],
)
@pytest.mark.parametrize("stock_first", [False, True], ids=["order-first", "stock-first"])
def test_methods_not_charged_at_once_are_refused_until_they_are_built(
    uow: PaymentUnitOfWork,
    gateway: SimulatedGateway,
    clock: ManualClock,
    method: PaymentMethod,
    stock_first: bool,
) -> None:
    if stock_first:
        on_stock_reserved(reserved(), uow, gateway, clock)

    with pytest.raises(PermanentError, match=f"{method.value}.* not supported yet"):
        on_order_placed(placed(method, token=None), uow, gateway, clock)


def test_payment_ids_are_stable_per_order_so_retries_reuse_the_idempotency_key(
    uow: PaymentUnitOfWork, gateway: SimulatedGateway, clock: ManualClock
) -> None:
    on_order_placed(placed(), uow, gateway, clock)
    on_order_placed(order_placed("ord-2"), uow, gateway, clock)

    assert Payment.for_order(placed(), clock.now()).payment_id == payment_of(uow).payment_id
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
    service = worker.bootstrap(clock)
    uow = PaymentUnitOfWork(session_for(service))

    service.handlers[OrderPlaced](placed(token="tok_transient"), uow)
    [event] = service.handlers[StockReserved](reserved(), uow)

    assert isinstance(event, PaymentCaptured)


def test_a_settled_payment_cannot_be_settled_again(clock: ManualClock) -> None:
    payment = Payment.for_order(placed(), clock.now())
    payment.take_stock_reservation(clock.now())
    payment.settle(ChargeOutcome(approved=True), clock.now())

    with pytest.raises(RuntimeError, match="no way from captured to failed"):
        payment.settle(ChargeOutcome(approved=False, reason="declined"), clock.now())


def test_a_batch_costs_the_same_few_selects_however_many_orders_it_holds(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    def selects_for(orders: int) -> int:
        service = worker.bootstrap(clock, PaymentSettings())
        earlier = session_for(service)
        ids = [f"ord-{n:02}" for n in range(orders)]
        half = ids[: orders // 2]
        for order_id in half:
            service.handlers[OrderPlaced](order_placed(order_id), PaymentUnitOfWork(earlier))
        earlier.commit()
        messages: list[Message] = [reserved(order_id) for order_id in half]
        for order_id in ids[orders // 2 :]:
            messages += [order_placed(order_id), reserved(order_id)]

        session = Session(earlier.get_bind(), expire_on_commit=False)
        uow = PaymentUnitOfWork(session)
        counter = count_queries(session)
        uow.preload(messages)
        announced = [e for m in messages for e in service.handlers[type(m)](m, uow)]
        session.commit()
        selects = counter.selects

        assert [e.order_id for e in announced if isinstance(e, PaymentCaptured)] == ids
        assert uow.gateway_ledger.approved_by_reference() == dict.fromkeys(ids, 1)
        session.close()
        return selects

    assert selects_for(20) == selects_for(2) <= 2
