"""The warehouse, as a specification: once an order is both reserved and paid for (or its cash
is to be collected on delivery), pick, verify, pack, weigh and label it, automatically and once;
an after-sales replacement, never charged for, as soon as it is reserved. Packing hands the order
to the carrier: until then a customer's cancel stops it, after it the cancel is refused and a
return offered."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from services.warehouse.bootstrap import bootstrap
from services.warehouse.model import Fulfillment, PickedLine, PickMismatch
from services.warehouse.packing import PackingRules
from services.warehouse.settings import WarehouseSettings
from services.warehouse.status import FULFILLMENT_MACHINE, FulfillmentStatus
from services.warehouse.store import WarehouseUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    FulfillmentCancelled,
    FulfillmentCancelRefused,
    FulfillmentPacked,
    FulfillmentPackingDue,
    Message,
    Money,
    OrderCancel,
    OrderCancelled,
    PaymentCaptured,
    PaymentDeferred,
    PaymentMethod,
    ReservedLine,
    StockReserved,
    original_order,
)
from shared.errors import IllegalTransition
from shared.service import Service
from shared.timers import Scheduled
from tests.unit.conftest import QueryCounter, handle

RULES = PackingRules(max_parcel_grams=20_000, packaging_grams=150)


@pytest.fixture
def service(clock: ManualClock) -> Service:
    return bootstrap(clock, WarehouseSettings())


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> WarehouseUnitOfWork:
    return WarehouseUnitOfWork(session_for(service))


def line(sku: str, quantity: int, grams: int, location: str = "A-01-02") -> ReservedLine:
    return ReservedLine(sku=sku, quantity=quantity, location=location, unit_weight_grams=grams)


def reserved(*lines: ReservedLine) -> StockReserved:
    return reserved_for("ord-1", *lines)


def reserved_for(order_id: str, *lines: ReservedLine) -> StockReserved:
    return StockReserved(order_id=order_id, lines=list(lines) or [line("MUG-BLUE", 2, 350)])


def replacement(case_id: str = "ord-1.1", *lines: ReservedLine) -> StockReserved:
    """The pick list of an after-sales replacement: its order id is the case id."""
    return StockReserved(
        order_id=case_id,
        lines=list(lines) or [line("MUG-BLUE", 2, 350)],
        replaces_order=original_order(case_id),
    )


def captured() -> PaymentCaptured:
    return captured_for("ord-1")


def captured_for(order_id: str) -> PaymentCaptured:
    payment_id = "pay_" + order_id.removeprefix("ord-")
    amount = Money(amount=2995, currency="EUR")
    return PaymentCaptured(
        order_id=order_id, payment_id=payment_id, method=PaymentMethod.CARD, amount=amount
    )


def deferred() -> PaymentDeferred:
    return deferred_for("ord-1")


def deferred_for(order_id: str) -> PaymentDeferred:
    payment_id = "pay_" + order_id.removeprefix("ord-")
    amount = Money(amount=2995, currency="EUR")
    return PaymentDeferred(
        order_id=order_id,
        payment_id=payment_id,
        method=PaymentMethod.CASH_ON_DELIVERY,
        amount_due=amount,
    )


def cancel(order_id: str = "ord-1", reason: str = "ordered the wrong size") -> OrderCancel:
    return OrderCancel(order_id=order_id, reason=reason)


def cancelled(order_id: str = "ord-1", reason: str = "payment_failed") -> OrderCancelled:
    return OrderCancelled(order_id=order_id, reason=reason)


def packed(service: Service, uow: WarehouseUnitOfWork, event: StockReserved) -> FulfillmentPacked:
    handle(service, event, uow)
    [announcement] = handle(service, captured(), uow)
    assert isinstance(announcement, FulfillmentPacked)
    return announcement


def packing_in(clock: ManualClock, time: timedelta) -> Service:
    """The warehouse taking ``time`` to pick and pack a ready order."""
    return bootstrap(clock, WarehouseSettings(packing_seconds=time.total_seconds()))


def fulfillment_of(uow: WarehouseUnitOfWork) -> Fulfillment:
    fulfillment = uow.fulfillments.by_order("ord-1")
    assert fulfillment is not None
    return fulfillment


def contents(announcement: FulfillmentPacked) -> list[dict[str, int]]:
    return [{item.sku: item.quantity for item in parcel.items} for parcel in announcement.parcels]


def test_a_pick_list_alone_is_kept_awaiting_payment(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    assert handle(service, reserved(), uow) == []

    fulfillment = fulfillment_of(uow)
    assert fulfillment.status == FulfillmentStatus.AWAITING_PAYMENT
    assert fulfillment.pick_list == reserved().lines


def test_a_payment_alone_waits_for_the_pick_list(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    assert handle(service, captured(), uow) == []

    assert fulfillment_of(uow).status == FulfillmentStatus.AWAITING_PICK_LIST


@pytest.mark.parametrize("paid_first", [False, True], ids=["reserved-first", "paid-first"])
def test_the_second_of_the_two_events_packs_the_order(
    service: Service, uow: WarehouseUnitOfWork, paid_first: bool
) -> None:
    if paid_first:
        handle(service, captured(), uow)
        [event] = handle(service, reserved(), uow)
    else:
        handle(service, reserved(), uow)
        [event] = handle(service, captured(), uow)

    assert isinstance(event, FulfillmentPacked)
    [parcel] = event.parcels
    assert re.fullmatch(r"prc_[0-9a-f]+", parcel.parcel_id)
    assert contents(event) == [{"MUG-BLUE": 2}]
    assert parcel.weight_grams == 2 * 350 + 150
    assert fulfillment_of(uow).status == FulfillmentStatus.PACKED


def test_every_step_is_recorded_with_its_time(
    service: Service, uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    reserved_at = clock.now()
    handle(service, reserved(line("MUG-BLUE", 2, 350, location="B-07-03")), uow)
    clock.advance(timedelta(minutes=5))

    handle(service, captured(), uow)

    fulfillment = fulfillment_of(uow)
    assert [(step.status, step.at) for step in fulfillment.steps] == [
        ("awaiting_payment", reserved_at),
        ("ready", clock.now()),
        ("picked", clock.now()),
        ("verified", clock.now()),
        ("parcelled", clock.now()),
        ("weighed", clock.now()),
        ("packed", clock.now()),
    ]
    assert fulfillment.picked == [PickedLine("MUG-BLUE", 2, "B-07-03")]


def test_steps_and_picks_are_stored_as_they_always_were(
    service: Service, uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    """Rows written before the columns were typed must read, and new ones look the same."""
    handle(service, reserved(line("MUG-BLUE", 2, 350, location="B-07-03")), uow)
    handle(service, captured(), uow)
    uow.session.flush()

    query = text("SELECT steps, picked FROM fulfillments WHERE order_id = 'ord-1'")
    steps, picked = uow.session.execute(query).one()

    assert json.loads(steps)[:2] == [
        {"status": "awaiting_payment", "at": clock.now().isoformat()},
        {"status": "ready", "at": clock.now().isoformat()},
    ]
    assert json.loads(picked) == [{"sku": "MUG-BLUE", "quantity": 2, "location": "B-07-03"}]


def test_no_parcel_is_heavier_than_the_limit_and_every_unit_is_packed(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    event = packed(service, uow, reserved(line("KETTLE", 4, 6_000), line("TEA-GREEN", 3, 1_500)))

    assert contents(event) == [{"KETTLE": 3, "TEA-GREEN": 1}, {"KETTLE": 1, "TEA-GREEN": 2}]
    assert [parcel.weight_grams for parcel in event.parcels] == [19_650, 9_150]


def test_a_unit_heavier_than_the_limit_travels_alone(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    event = packed(service, uow, reserved(line("ANVIL", 2, 25_000), line("MUG-BLUE", 5, 350)))

    assert contents(event) == [{"ANVIL": 1}, {"ANVIL": 1}, {"MUG-BLUE": 5}]
    assert [parcel.weight_grams for parcel in event.parcels] == [25_150, 25_150, 1_900]


def test_the_limit_includes_the_packaging(service: Service, uow: WarehouseUnitOfWork) -> None:
    event = packed(service, uow, reserved(line("CRATE", 2, 10_000)))

    assert contents(event) == [{"CRATE": 1}, {"CRATE": 1}]


def test_limits_and_packaging_come_from_the_rules_given(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    rules = WarehouseSettings(max_parcel_weight_grams=1_000, packaging_weight_grams=100)
    service = bootstrap(clock, rules)

    event = packed(service, uow, reserved(line("MUG-BLUE", 3, 400)))

    assert [parcel.weight_grams for parcel in event.parcels] == [900, 500]


def test_each_parcel_gets_its_own_id_and_a_label(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    event = packed(service, uow, reserved(line("ANVIL", 2, 25_000)))

    parcels = fulfillment_of(uow).parcels
    assert [parcel.label_code for parcel in parcels] == ["ord-1-1/2", "ord-1-2/2"]
    assert [parcel.parcel_id for parcel in parcels] == [p.parcel_id for p in event.parcels]
    assert len({parcel.parcel_id for parcel in parcels}) == 2


def test_duplicate_and_late_events_after_packing_change_nothing(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    event = packed(service, uow, reserved())

    assert handle(service, reserved(), uow) == []
    assert handle(service, captured(), uow) == []
    assert fulfillment_of(uow).announcement() == event


def test_a_duplicate_before_both_are_known_changes_nothing(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    handle(service, captured(), uow)

    assert handle(service, captured(), uow) == []
    assert fulfillment_of(uow).status == FulfillmentStatus.AWAITING_PICK_LIST


def test_verification_refuses_a_pick_that_differs_from_the_pick_list(clock: ManualClock) -> None:
    fulfillment = Fulfillment.for_pick_list("ord-1", reserved().lines, clock.now())
    fulfillment.take_payment(clock.now())
    fulfillment.pick(clock.now())
    fulfillment.picked = [PickedLine("MUG-BLUE", 1, "A-01-02")]

    with pytest.raises(PickMismatch, match="picked"):
        fulfillment.verify(clock.now())


def test_a_step_out_of_turn_is_refused(clock: ManualClock) -> None:
    fulfillment = Fulfillment.for_pick_list("ord-1", reserved().lines, clock.now())

    with pytest.raises(IllegalTransition, match="awaiting_payment to picked"):
        fulfillment.pick(clock.now())


# -- after-sales replacements -------------------------------------------------------------


def test_a_replacements_pick_list_is_packed_at_once_without_a_payment(
    service: Service, uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    [event] = handle(service, replacement("ord-1.1"), uow)

    assert isinstance(event, FulfillmentPacked) and event.order_id == "ord-1.1"
    assert contents(event) == [{"MUG-BLUE": 2}]
    fulfillment = uow.fulfillments.by_order("ord-1.1")
    assert fulfillment is not None
    assert [(step.status, step.at) for step in fulfillment.steps] == [
        (status, clock.now())
        for status in ["ready", "picked", "verified", "parcelled", "weighed", "packed"]
    ]
    assert [parcel.label_code for parcel in fulfillment.parcels] == ["ord-1.1-1/1"]
    assert uow.fulfillments.by_order("ord-1") is None  # the original order is not touched


def test_a_repeated_replacement_pick_list_packs_nothing_more(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    [event] = handle(service, replacement(), uow)

    assert handle(service, replacement(), uow) == []
    fulfillment = uow.fulfillments.by_order("ord-1.1")
    assert fulfillment is not None and fulfillment.announcement() == event
    assert len(fulfillment.steps) == 6


@pytest.mark.parametrize("payment", ["before", "after"])
def test_a_payment_for_a_replacement_changes_nothing_whenever_it_comes(
    service: Service, uow: WarehouseUnitOfWork, payment: str
) -> None:
    """Nothing is charged for a replacement, but a stray payment event must not pack it twice."""
    if payment == "before":
        assert handle(service, captured_for("ord-1.1"), uow) == []
    [event] = handle(service, replacement(), uow)
    assert handle(service, captured_for("ord-1.1"), uow) == []
    assert handle(service, deferred_for("ord-1.1"), uow) == []

    assert isinstance(event, FulfillmentPacked)
    fulfillment = uow.fulfillments.by_order("ord-1.1")
    assert fulfillment is not None and fulfillment.status == FulfillmentStatus.PACKED


@pytest.mark.parametrize("timer_first", [False, True], ids=["reserved-first", "timer-first"])
def test_with_a_packing_time_a_replacement_is_packed_when_the_timer_fires(
    uow: WarehouseUnitOfWork, clock: ManualClock, timer_first: bool
) -> None:
    two_hours = timedelta(hours=2)
    service = packing_in(clock, two_hours)
    due = FulfillmentPackingDue(order_id="ord-1.1")
    if timer_first:  # a stray timer, before the pick list: nothing to pack yet
        assert handle(service, due, uow) == []

    [timer] = handle(service, replacement(), uow)

    assert isinstance(timer, Scheduled)
    assert (timer.message, timer.due) == (due, clock.now() + two_hours)
    fulfillment = uow.fulfillments.by_order("ord-1.1")
    assert fulfillment is not None and fulfillment.status == FulfillmentStatus.READY
    assert handle(service, replacement(), uow) == []
    [announcement] = handle(service, due, uow)
    assert isinstance(announcement, FulfillmentPacked) and announcement.order_id == "ord-1.1"
    assert handle(service, due, uow) == []


def test_a_replacement_cancelled_before_its_pick_list_came_packs_nothing(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    handle(service, cancelled("ord-1.1", reason="customer_cancelled"), uow)

    assert handle(service, replacement(), uow) == []
    fulfillment = uow.fulfillments.by_order("ord-1.1")
    assert fulfillment is not None and fulfillment.status == FulfillmentStatus.CANCELLED


def test_a_pick_list_without_replaces_order_still_waits_for_the_payment(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    assert handle(service, reserved_for("ord-1.1"), uow) == []

    fulfillment = uow.fulfillments.by_order("ord-1.1")
    assert fulfillment is not None and fulfillment.status == FulfillmentStatus.AWAITING_PAYMENT


# -- cash on delivery ---------------------------------------------------------------------


@pytest.mark.parametrize("paid_first", [False, True], ids=["reserved-first", "deferred-first"])
def test_cash_on_delivery_goes_ahead_as_if_paid(
    service: Service, uow: WarehouseUnitOfWork, paid_first: bool
) -> None:
    if paid_first:
        assert handle(service, deferred(), uow) == []
        [event] = handle(service, reserved(), uow)
    else:
        handle(service, reserved(), uow)
        [event] = handle(service, deferred(), uow)

    assert isinstance(event, FulfillmentPacked)
    assert contents(event) == [{"MUG-BLUE": 2}]
    assert fulfillment_of(uow).status == FulfillmentStatus.PACKED


def test_a_deferred_payment_after_packing_changes_nothing(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    packed(service, uow, reserved())

    assert handle(service, deferred(), uow) == []
    assert len(fulfillment_of(uow).steps) == 7


# -- a customer's cancel ------------------------------------------------------------------


def test_a_cancel_before_anything_arrived_leaves_a_tombstone_and_is_announced(
    service: Service, uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    assert handle(service, cancel(reason="found it cheaper"), uow) == [
        FulfillmentCancelled(order_id="ord-1", reason="found it cheaper")
    ]

    fulfillment = fulfillment_of(uow)
    assert fulfillment.status == FulfillmentStatus.CANCELLED
    assert fulfillment.cancel_reason == "found it cheaper"
    assert [(step.status, step.at) for step in fulfillment.steps] == [("cancelled", clock.now())]


@pytest.mark.parametrize(
    ("first", "waiting"),
    [
        ("reserved", FulfillmentStatus.AWAITING_PAYMENT),
        ("captured", FulfillmentStatus.AWAITING_PICK_LIST),
        ("deferred", FulfillmentStatus.AWAITING_PICK_LIST),
    ],
)
def test_a_cancel_before_packing_intercepts_the_order(
    service: Service,
    uow: WarehouseUnitOfWork,
    clock: ManualClock,
    first: str,
    waiting: FulfillmentStatus,
) -> None:
    arrived = {
        "reserved": lambda: handle(service, reserved(), uow),
        "captured": lambda: handle(service, captured(), uow),
        "deferred": lambda: handle(service, deferred(), uow),
    }
    arrived[first]()
    clock.advance(timedelta(minutes=3))

    [announcement] = handle(service, cancel(), uow)

    assert announcement == FulfillmentCancelled(order_id="ord-1", reason="ordered the wrong size")
    fulfillment = fulfillment_of(uow)
    assert fulfillment.status == FulfillmentStatus.CANCELLED
    assert [step.status for step in fulfillment.steps] == [waiting, FulfillmentStatus.CANCELLED]
    assert fulfillment.steps[-1].at == clock.now()
    assert fulfillment.parcels == []


def test_a_cancel_once_packed_is_refused_and_a_return_offered(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    event = packed(service, uow, reserved())

    assert handle(service, cancel(), uow) == [
        FulfillmentCancelRefused(order_id="ord-1", reason="already_dispatched", return_offered=True)
    ]
    fulfillment = fulfillment_of(uow)
    assert fulfillment.status == FulfillmentStatus.PACKED
    assert fulfillment.cancel_reason is None
    assert fulfillment.announcement() == event


def test_a_second_cancel_of_a_cancelled_order_does_nothing(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    handle(service, reserved(), uow)
    handle(service, cancel(reason="first"), uow)

    assert handle(service, cancel(reason="second"), uow) == []
    assert fulfillment_of(uow).cancel_reason == "first"
    assert len(fulfillment_of(uow).steps) == 2


@pytest.mark.parametrize("tombstone", [False, True], ids=["cancelled-while-waiting", "tombstone"])
def test_late_pick_lists_and_payments_after_a_cancel_pack_nothing(
    service: Service, uow: WarehouseUnitOfWork, tombstone: bool
) -> None:
    if not tombstone:
        handle(service, reserved(), uow)
    handle(service, cancel(), uow)
    steps = fulfillment_of(uow).steps

    assert handle(service, reserved(), uow) == []
    assert handle(service, captured(), uow) == []
    assert handle(service, deferred(), uow) == []
    assert fulfillment_of(uow).status == FulfillmentStatus.CANCELLED
    assert fulfillment_of(uow).steps == steps


# -- the order cancelled for any reason ---------------------------------------------------


def test_a_cancelled_order_closes_an_open_fulfilment_without_a_word(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    handle(service, reserved(), uow)

    assert handle(service, cancelled(reason="payment_expired"), uow) == []

    fulfillment = fulfillment_of(uow)
    assert fulfillment.status == FulfillmentStatus.CANCELLED
    assert fulfillment.cancel_reason == "payment_expired"
    assert handle(service, captured(), uow) == []
    assert fulfillment.parcels == []


def test_a_cancelled_order_not_seen_yet_leaves_a_silent_tombstone(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    assert handle(service, cancelled(reason="out_of_stock"), uow) == []

    assert fulfillment_of(uow).status == FulfillmentStatus.CANCELLED
    assert handle(service, reserved(), uow) == []
    assert handle(service, deferred(), uow) == []
    assert fulfillment_of(uow).status == FulfillmentStatus.CANCELLED


def test_a_cancelled_order_leaves_a_packed_fulfilment_as_it_is(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    packed(service, uow, reserved())

    # e.g. returned to sender after failed deliveries: intake cancels with delivery_failed
    assert handle(service, cancelled(reason="delivery_failed"), uow) == []
    assert fulfillment_of(uow).status == FulfillmentStatus.PACKED


def test_the_order_cancelled_after_the_customers_cancel_changes_nothing(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    handle(service, cancel(reason="too slow"), uow)

    assert handle(service, cancelled(reason="customer_cancelled"), uow) == []
    assert fulfillment_of(uow).cancel_reason == "too slow"
    assert len(fulfillment_of(uow).steps) == 1


def test_a_customers_cancel_after_the_order_was_cancelled_does_nothing(
    service: Service, uow: WarehouseUnitOfWork
) -> None:
    handle(service, cancelled(reason="payment_failed"), uow)

    assert handle(service, cancel(), uow) == []


# -- the state machine and its history ----------------------------------------------------


def test_every_status_before_packed_may_be_cancelled_and_none_after() -> None:
    S = FulfillmentStatus
    cancellable = {status for status in S if FULFILLMENT_MACHINE.can(status, S.CANCELLED)}

    assert cancellable == set(S) - {S.PACKED, S.CANCELLED}
    assert FULFILLMENT_MACHINE.terminal == {S.PACKED, S.CANCELLED}


def test_a_packed_fulfilment_cannot_be_closed(clock: ManualClock) -> None:
    fulfillment = Fulfillment.for_pick_list("ord-1", reserved().lines, clock.now())
    fulfillment.take_payment(clock.now())
    fulfillment.fulfil(RULES, clock.now())

    assert fulfillment.close("too late", clock.now()) is False
    assert fulfillment.status == FulfillmentStatus.PACKED


def test_a_fulfilment_cannot_start_half_way(clock: ManualClock) -> None:
    with pytest.raises(IllegalTransition, match="cannot start out packed"):
        Fulfillment.opened("ord-1", FulfillmentStatus.PACKED, clock.now())


def test_the_step_history_is_kept_on_the_fulfilment_row(
    service: Service, session_for: Callable[[Service], Session], clock: ManualClock
) -> None:
    session = session_for(service)
    handle(service, reserved(), WarehouseUnitOfWork(session))
    session.commit()
    clock.advance(timedelta(minutes=5))
    handle(service, cancel(), WarehouseUnitOfWork(session))
    session.commit()
    session.expunge_all()

    fulfillment = WarehouseUnitOfWork(session).fulfillments.by_order("ord-1")

    assert fulfillment is not None
    assert [(step.status, step.at) for step in fulfillment.steps] == [
        (FulfillmentStatus.AWAITING_PAYMENT, clock.now() - timedelta(minutes=5)),
        (FulfillmentStatus.CANCELLED, clock.now()),
    ]
    assert "fulfillment_steps" not in inspect(session.get_bind()).get_table_names()


def test_the_handler_table_names_every_message_the_warehouse_handles() -> None:
    service = bootstrap(settings=WarehouseSettings())

    assert set(service.subscriptions) == {
        StockReserved,
        PaymentCaptured,
        PaymentDeferred,
        OrderCancel,
        OrderCancelled,
        FulfillmentPackingDue,
    }


# -- bootstrap and batches ----------------------------------------------------------------


def test_bootstrap_reads_the_packing_rules_from_the_environment(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_WAREHOUSE_MAX_PARCEL_WEIGHT_GRAMS", "1000")
    monkeypatch.setenv("ORDERFLOW_WAREHOUSE_PACKAGING_WEIGHT_GRAMS", "100")
    service = bootstrap(clock)
    uow = WarehouseUnitOfWork(session_for(service))

    service.handlers[StockReserved](reserved(line("MUG-BLUE", 3, 400)), uow)
    [event] = service.handlers[PaymentCaptured](captured(), uow)

    assert isinstance(event, FulfillmentPacked)
    assert [parcel.weight_grams for parcel in event.parcels] == [900, 500]


def test_packaging_that_reaches_the_limit_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="packaging alone"):
        WarehouseSettings(max_parcel_weight_grams=150, packaging_weight_grams=150)


def test_a_batch_costs_the_same_few_selects_however_many_orders_it_holds(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    """Every kind of message in one batch: payments for waiting pick lists, both halves at once
    (paid or cash on delivery), cancels before and after packing, cancels of orders never
    seen (with a late payment behind them), orders cancelled for other reasons, and pick lists
    of after-sales replacements (case ids), one of them repeated."""
    S = FulfillmentStatus

    def selects_for(per_kind: int) -> int:
        service = bootstrap(clock, WarehouseSettings())
        earlier = session_for(service)
        kinds = ["paid", "cod", "intercepted", "refused", "tombstone", "closed", "unseen"]
        ids = {kind: [f"ord-{kind}-{n:02}" for n in range(per_kind)] for kind in kinds}
        ids["replaced"] = [f"ord-paid-{n:02}.1" for n in range(per_kind)]
        setup = WarehouseUnitOfWork(earlier)
        for order_id in ids["paid"] + ids["intercepted"] + ids["closed"]:
            service.handlers[StockReserved](reserved_for(order_id), setup)
        for order_id in ids["refused"]:
            service.handlers[StockReserved](reserved_for(order_id), setup)
            list(service.handlers[PaymentCaptured](captured_for(order_id), setup))
        earlier.commit()
        messages: list[Message] = []
        for n in range(per_kind):
            messages += [
                captured_for(ids["paid"][n]),
                reserved_for(ids["cod"][n]),
                deferred_for(ids["cod"][n]),
                cancel(ids["intercepted"][n]),
                cancel(ids["refused"][n]),
                cancel(ids["tombstone"][n]),
                captured_for(ids["tombstone"][n]),
                cancelled(ids["closed"][n]),
                cancelled(ids["unseen"][n], reason="out_of_stock"),
                replacement(ids["replaced"][n]),
                replacement(ids["replaced"][n]),
            ]

        session = Session(earlier.get_bind(), expire_on_commit=False)
        uow = WarehouseUnitOfWork(session)
        counter = count_queries(session)
        uow.preload(messages)
        announced = [e for m in messages for e in service.handlers[type(m)](m, uow)]
        session.commit()
        selects = counter.selects

        def of(kind: type[Message]) -> list[str]:
            return sorted(e.order_id for e in announced if isinstance(e, kind))

        assert of(FulfillmentPacked) == sorted(ids["paid"] + ids["cod"] + ids["replaced"])
        assert of(FulfillmentCancelled) == sorted(ids["intercepted"] + ids["tombstone"])
        assert of(FulfillmentCancelRefused) == ids["refused"]
        assert len(announced) == 6 * per_kind
        expected = {"paid": S.PACKED, "cod": S.PACKED, "refused": S.PACKED, "replaced": S.PACKED}
        for kind, order_ids in ids.items():
            for order_id in order_ids:
                fulfillment = uow.fulfillments.by_order(order_id)
                assert fulfillment is not None
                assert fulfillment.status == expected.get(kind, S.CANCELLED)
        session.close()
        return selects

    assert selects_for(10) == selects_for(1) <= 2


def test_with_a_packing_time_a_ready_order_is_packed_when_the_timer_fires(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    two_hours = timedelta(hours=2)
    service = packing_in(clock, two_hours)
    handle(service, reserved(), uow)

    [timer] = handle(service, captured(), uow)

    assert isinstance(timer, Scheduled)
    assert timer.due == clock.now() + two_hours
    assert fulfillment_of(uow).status == FulfillmentStatus.READY
    [announcement] = handle(service, timer.message, uow)
    assert isinstance(announcement, FulfillmentPacked)


def test_a_cancel_during_packing_time_stops_the_packing(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    two_hours = timedelta(hours=2)
    service = packing_in(clock, two_hours)
    handle(service, reserved(), uow)
    [timer] = handle(service, captured(), uow)
    assert isinstance(timer, Scheduled)

    [answer] = handle(service, OrderCancel(order_id="ord-1", reason="changed my mind"), uow)

    assert isinstance(answer, FulfillmentCancelled)
    assert handle(service, timer.message, uow) == []
