"""The warehouse, as a specification: once an order is both reserved and paid for, pick, verify,
pack, weigh and label it, automatically and once."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from services.warehouse import worker
from services.warehouse.handlers import on_payment_captured, on_stock_reserved
from services.warehouse.model import Fulfillment, PickMismatch
from services.warehouse.packing import PackingRules
from services.warehouse.settings import WarehouseSettings
from services.warehouse.status import FulfillmentStatus, IllegalTransition
from services.warehouse.store import WarehouseUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    FulfillmentPacked,
    Message,
    Money,
    PaymentCaptured,
    PaymentMethod,
    ReservedLine,
    StockReserved,
)
from shared.handlers import Service
from tests.unit.conftest import QueryCounter

RULES = PackingRules(max_parcel_grams=20_000, packaging_grams=150)


@pytest.fixture
def uow(session_for: Callable[[Service], Session]) -> WarehouseUnitOfWork:
    return WarehouseUnitOfWork(session_for(worker.bootstrap(settings=WarehouseSettings())))


def line(sku: str, quantity: int, grams: int, location: str = "A-01-02") -> ReservedLine:
    return ReservedLine(sku=sku, quantity=quantity, location=location, unit_weight_grams=grams)


def reserved(*lines: ReservedLine) -> StockReserved:
    return reserved_for("ord-1", *lines)


def reserved_for(order_id: str, *lines: ReservedLine) -> StockReserved:
    return StockReserved(order_id=order_id, lines=list(lines) or [line("MUG-BLUE", 2, 350)])


def captured() -> PaymentCaptured:
    return captured_for("ord-1")


def captured_for(order_id: str) -> PaymentCaptured:
    payment_id = "pay_" + order_id.removeprefix("ord-")
    amount = Money(amount=2995, currency="EUR")
    return PaymentCaptured(
        order_id=order_id, payment_id=payment_id, method=PaymentMethod.CARD, amount=amount
    )


def packed(
    uow: WarehouseUnitOfWork, clock: ManualClock, event: StockReserved, rules: PackingRules = RULES
) -> FulfillmentPacked:
    on_stock_reserved(event, uow, clock, rules)
    [announcement] = on_payment_captured(captured(), uow, clock, rules)
    assert isinstance(announcement, FulfillmentPacked)
    return announcement


def fulfillment_of(uow: WarehouseUnitOfWork) -> Fulfillment:
    fulfillment = uow.fulfillments.by_order("ord-1")
    assert fulfillment is not None
    return fulfillment


def contents(announcement: FulfillmentPacked) -> list[dict[str, int]]:
    return [{item.sku: item.quantity for item in parcel.items} for parcel in announcement.parcels]


def test_a_pick_list_alone_is_kept_awaiting_payment(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    assert on_stock_reserved(reserved(), uow, clock, RULES) == []

    fulfillment = fulfillment_of(uow)
    assert fulfillment.status == FulfillmentStatus.AWAITING_PAYMENT
    assert fulfillment.lines == reserved().lines


def test_a_payment_alone_waits_for_the_pick_list(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    assert on_payment_captured(captured(), uow, clock, RULES) == []

    assert fulfillment_of(uow).status == FulfillmentStatus.AWAITING_PICK_LIST


@pytest.mark.parametrize("paid_first", [False, True], ids=["reserved-first", "paid-first"])
def test_the_second_of_the_two_events_packs_the_order(
    uow: WarehouseUnitOfWork, clock: ManualClock, paid_first: bool
) -> None:
    if paid_first:
        on_payment_captured(captured(), uow, clock, RULES)
        [event] = on_stock_reserved(reserved(), uow, clock, RULES)
    else:
        on_stock_reserved(reserved(), uow, clock, RULES)
        [event] = on_payment_captured(captured(), uow, clock, RULES)

    assert isinstance(event, FulfillmentPacked)
    [parcel] = event.parcels
    assert re.fullmatch(r"prc_[0-9a-f]+", parcel.parcel_id)
    assert contents(event) == [{"MUG-BLUE": 2}]
    assert parcel.weight_grams == 2 * 350 + 150
    assert fulfillment_of(uow).status == FulfillmentStatus.PACKED


def test_every_step_is_recorded_with_its_time(uow: WarehouseUnitOfWork, clock: ManualClock) -> None:
    reserved_at = clock.now()
    on_stock_reserved(reserved(line("MUG-BLUE", 2, 350, location="B-07-03")), uow, clock, RULES)
    clock.advance(timedelta(minutes=5))

    on_payment_captured(captured(), uow, clock, RULES)

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
    assert fulfillment.picked == [{"sku": "MUG-BLUE", "quantity": 2, "location": "B-07-03"}]


def test_no_parcel_is_heavier_than_the_limit_and_every_unit_is_packed(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    event = packed(uow, clock, reserved(line("KETTLE", 4, 6_000), line("TEA-GREEN", 3, 1_500)))

    assert contents(event) == [{"KETTLE": 3, "TEA-GREEN": 1}, {"KETTLE": 1, "TEA-GREEN": 2}]
    assert [parcel.weight_grams for parcel in event.parcels] == [19_650, 9_150]


def test_a_unit_heavier_than_the_limit_travels_alone(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    event = packed(uow, clock, reserved(line("ANVIL", 2, 25_000), line("MUG-BLUE", 5, 350)))

    assert contents(event) == [{"ANVIL": 1}, {"ANVIL": 1}, {"MUG-BLUE": 5}]
    assert [parcel.weight_grams for parcel in event.parcels] == [25_150, 25_150, 1_900]


def test_the_limit_includes_the_packaging(uow: WarehouseUnitOfWork, clock: ManualClock) -> None:
    event = packed(uow, clock, reserved(line("CRATE", 2, 10_000)))

    assert contents(event) == [{"CRATE": 1}, {"CRATE": 1}]


def test_limits_and_packaging_come_from_the_rules_given(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    rules = PackingRules(max_parcel_grams=1_000, packaging_grams=100)

    event = packed(uow, clock, reserved(line("MUG-BLUE", 3, 400)), rules)

    assert [parcel.weight_grams for parcel in event.parcels] == [900, 500]


def test_each_parcel_gets_its_own_id_and_a_label(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    event = packed(uow, clock, reserved(line("ANVIL", 2, 25_000)))

    parcels = fulfillment_of(uow).parcels
    assert [parcel.label_code for parcel in parcels] == ["ord-1-1/2", "ord-1-2/2"]
    assert [parcel.parcel_id for parcel in parcels] == [p.parcel_id for p in event.parcels]
    assert len({parcel.parcel_id for parcel in parcels}) == 2


def test_duplicate_and_late_events_after_packing_change_nothing(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    event = packed(uow, clock, reserved())

    assert on_stock_reserved(reserved(), uow, clock, RULES) == []
    assert on_payment_captured(captured(), uow, clock, RULES) == []
    assert fulfillment_of(uow).announcement() == event


def test_a_duplicate_before_both_are_known_changes_nothing(
    uow: WarehouseUnitOfWork, clock: ManualClock
) -> None:
    on_payment_captured(captured(), uow, clock, RULES)

    assert on_payment_captured(captured(), uow, clock, RULES) == []
    assert fulfillment_of(uow).status == FulfillmentStatus.AWAITING_PICK_LIST


def test_verification_refuses_a_pick_that_differs_from_the_pick_list(clock: ManualClock) -> None:
    fulfillment = Fulfillment.for_pick_list("ord-1", reserved().lines, clock.now())
    fulfillment.take_payment(clock.now())
    fulfillment.pick(clock.now())
    fulfillment.picked = [{"sku": "MUG-BLUE", "quantity": 1, "location": "A-01-02"}]

    with pytest.raises(PickMismatch, match="picked"):
        fulfillment.verify(clock.now())


def test_a_step_out_of_turn_is_refused(clock: ManualClock) -> None:
    fulfillment = Fulfillment.for_pick_list("ord-1", reserved().lines, clock.now())

    with pytest.raises(IllegalTransition, match="awaiting_payment to picked"):
        fulfillment.pick(clock.now())


def test_bootstrap_reads_the_packing_rules_from_the_environment(
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_WAREHOUSE_MAX_PARCEL_WEIGHT_GRAMS", "1000")
    monkeypatch.setenv("ORDERFLOW_WAREHOUSE_PACKAGING_WEIGHT_GRAMS", "100")
    service = worker.bootstrap(clock)
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
    def selects_for(orders: int) -> int:
        service = worker.bootstrap(clock, WarehouseSettings())
        earlier = session_for(service)
        ids = [f"ord-{n:02}" for n in range(orders)]
        half = ids[: orders // 2]
        for order_id in half:
            service.handlers[StockReserved](reserved_for(order_id), WarehouseUnitOfWork(earlier))
        earlier.commit()
        messages: list[Message] = [captured_for(order_id) for order_id in half]
        for order_id in ids[orders // 2 :]:
            messages += [reserved_for(order_id), captured_for(order_id)]

        session = Session(earlier.get_bind(), expire_on_commit=False)
        uow = WarehouseUnitOfWork(session)
        counter = count_queries(session)
        uow.preload(messages)
        announced = [e for m in messages for e in service.handlers[type(m)](m, uow)]
        session.commit()
        selects = counter.selects

        assert [e.order_id for e in announced if isinstance(e, FulfillmentPacked)] == ids
        for order_id in ids:
            fulfillment = uow.fulfillments.by_order(order_id)
            assert fulfillment is not None and fulfillment.status == FulfillmentStatus.PACKED
            assert len(fulfillment.steps) == 7 and len(fulfillment.parcels) == 1
        session.close()
        return selects

    assert selects_for(20) == selects_for(2) <= 3
