"""Reporting, as a specification: every order's row holds what the events said about it and
when each step was first reached, whatever order the events come in and however often; refunds
and returns are kept once each, by their ids; reporting announces nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.reporting.bootstrap import bootstrap
from services.reporting.model import (
    ReportedOrder,
    ReportedRefund,
    ReportedRejection,
    ReportedReturn,
)
from services.reporting.store import ReportingUnitOfWork
from shared.contracts import (
    ItemQuantity,
    Message,
    Money,
    OrderApproved,
    OrderCancelled,
    OrderCompleted,
    OrderHeld,
    OrderRejected,
    PaymentCaptured,
    PaymentMethod,
    PaymentRefunded,
    Problem,
    Resolution,
    ReturnAuthorized,
    ReviewReason,
    ReviewRule,
    ShipmentDelivered,
    ShipmentDispatched,
    StockReserved,
)
from shared.envelope import wrap
from shared.service import Service
from tests.factories import order_placed, replacement_requested, return_received
from tests.unit.conftest import handle

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def service() -> Service:
    return bootstrap()


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> ReportingUnitOfWork:
    return ReportingUnitOfWork(session_for(service))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def apply(service: Service, uow: ReportingUnitOfWork, message: Message, minutes: float) -> None:
    """Handle ``message`` as announced ``minutes`` after T0; reporting answers nothing."""
    envelope = wrap(message, source="test", now=at(minutes))
    assert handle(service, message, uow, envelope) == []
    uow.finish()
    uow.session.expire_all()


def apply_batch(
    service: Service, uow: ReportingUnitOfWork, messages: list[tuple[Message, float]]
) -> None:
    """Handle ``messages`` as one batch: written together once their handlers all ran."""
    for message, minutes in messages:
        assert handle(service, message, uow, wrap(message, source="test", now=at(minutes))) == []
    uow.finish()
    uow.session.expire_all()


def apply_all(
    service: Service, uow: ReportingUnitOfWork, messages: list[tuple[Message, float]], batched: bool
) -> None:
    """Handle ``messages`` in one batch, or each in a batch of its own."""
    if batched:
        apply_batch(service, uow, messages)
        return
    for message, minutes in messages:
        apply(service, uow, message, minutes)


def tables(uow: ReportingUnitOfWork) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the read model, in key order."""
    found = {}
    for table in ReportedOrder.metadata.sorted_tables:
        if table.name.startswith("reported_"):
            key = list(table.primary_key.columns)
            found[table.name] = [
                tuple(r) for r in uow.session.execute(table.select().order_by(*key))
            ]
    return found


def row(uow: ReportingUnitOfWork, order_id: str = "ord-1") -> ReportedOrder:
    found = uow.session.get(ReportedOrder, order_id)
    assert found is not None
    return found


def journey(order_id: str = "ord-1") -> list[tuple[Message, float]]:
    """A card order from placed to completed, each event with its minute."""
    return [
        (order_placed(order_id, ("MUG-BLUE", 2), ("TEE-M-RED", 1)), 0),
        (StockReserved(order_id=order_id, lines=[]), 1),
        (
            PaymentCaptured(
                order_id=order_id,
                payment_id="pay-1",
                method=PaymentMethod.CARD,
                amount=Money(amount=4490, currency="EUR"),
            ),
            2,
        ),
        (
            ShipmentDispatched(
                order_id=order_id,
                shipment_id="shp-1",
                carrier="DHL",
                service="parcel",
                tracking_number="TRK1",
                expected_delivery=date(2026, 11, 30),
                cost=Money(amount=590, currency="EUR"),
            ),
            60,
        ),
        (
            ShipmentDelivered(
                order_id=order_id,
                shipment_id="shp-1",
                tracking_number="TRK1",
                delivered_at=at(2 * 24 * 60),
            ),
            2 * 24 * 60 + 5,
        ),
        (OrderCompleted(order_id=order_id, channel="web"), 16 * 24 * 60),
    ]


def test_an_order_keeps_what_it_is_and_when_it_reached_each_step(
    service: Service, uow: ReportingUnitOfWork
) -> None:
    for message, minutes in journey():
        apply(service, uow, message, minutes)

    order = row(uow)
    assert (order.channel, order.country, order.currency, order.payment_method) == (
        "web",
        "DE",
        "EUR",
        "card",
    )
    assert [(line.sku, line.quantity) for line in order.lines] == [
        ("MUG-BLUE", 2),
        ("TEE-M-RED", 1),
    ]
    assert order.total == order.items_total + order.shipping_fee
    assert (order.placed_at, order.reserved_at, order.paid_at) == (at(0), at(1), at(2))
    assert (order.dispatched_at, order.carrier_expected_delivery) == (at(60), date(2026, 11, 30))
    assert order.delivered_at == at(2 * 24 * 60)  # the carrier's time, not the scan's arrival
    assert order.completed_at == at(16 * 24 * 60)
    assert order.cancelled_at is None


def test_events_twice_late_or_out_of_order_leave_the_same_row(
    service: Service, uow: ReportingUnitOfWork, session_for: Callable[[Service], Session]
) -> None:
    for message, minutes in journey():
        apply(service, uow, message, minutes)
    shuffled = ReportingUnitOfWork(session_for(service))
    events = journey()
    for message, minutes in [*reversed(events), *events]:
        apply(service, shuffled, message, minutes)

    def columns(order: ReportedOrder) -> dict[str, object]:
        return {c.key: getattr(order, c.key) for c in ReportedOrder.__table__.columns}

    assert columns(row(shuffled)) == columns(row(uow))
    assert len(row(shuffled).lines) == 2


@pytest.mark.parametrize("batched", [False, True], ids=["one at a time", "in one batch"])
def test_a_step_keeps_the_first_time_it_was_reached(
    service: Service, uow: ReportingUnitOfWork, batched: bool
) -> None:
    placed = order_placed("ord-1")
    apply_all(service, uow, [(placed, 10), (placed, 3), (placed, 7)], batched)

    assert row(uow).placed_at == at(3)


def test_a_cancel_keeps_its_reason(service: Service, uow: ReportingUnitOfWork) -> None:
    apply(service, uow, order_placed("ord-1"), 0)
    apply(service, uow, OrderCancelled(order_id="ord-1", reason="payment_failed"), 4)

    assert (row(uow).cancel_reason, row(uow).cancelled_at) == ("payment_failed", at(4))


def test_a_refund_is_kept_once_by_its_id(service: Service, uow: ReportingUnitOfWork) -> None:
    refund = PaymentRefunded(
        order_id="ord-1",
        payment_id="pay-1",
        refund_id="rf-1",
        amount=Money(amount=1250, currency="EUR"),
        reason="returned",
    )
    apply(service, uow, refund, 30)
    apply(service, uow, refund, 31)
    apply(service, uow, refund.model_copy(update={"refund_id": "rf-2"}), 40)

    refunds = uow.session.scalars(select(ReportedRefund).order_by(ReportedRefund.refund_id)).all()
    assert [(r.refund_id, r.amount, r.refunded_at) for r in refunds] == [
        ("rf-1", 1250, at(30)),
        ("rf-2", 1250, at(40)),
    ]


@pytest.mark.parametrize("batched", [False, True], ids=["one at a time", "in one batch"])
def test_a_return_keeps_its_reason_lines_and_both_times(
    service: Service, uow: ReportingUnitOfWork, batched: bool
) -> None:
    authorized = ReturnAuthorized(
        order_id="ord-1",
        rma="ord-1.1",
        request_id="req-1",
        resolution=Resolution.REFUND,
        lines=[ItemQuantity(sku="MUG-BLUE", quantity=1)],
        reason="too_small",
        send_by=at(14 * 24 * 60),
    )
    received = return_received("ord-1.1")
    heard = [(received, 9_000), (authorized, 100), (received, 9_500)]  # goods, then the RMA
    apply_all(service, uow, heard, batched)

    returned = uow.session.get(ReportedReturn, "ord-1.1")
    assert returned is not None
    assert (returned.order_id, returned.reason, returned.resolution) == (
        "ord-1",
        "too_small",
        "refund",
    )
    assert [(line.sku, line.quantity) for line in returned.lines] == [("MUG-BLUE", 1)]
    assert (returned.authorized_at, returned.received_at) == (at(100), at(9_000))


def test_a_replacement_is_an_order_of_its_own_that_names_the_one_it_replaces(
    service: Service, uow: ReportingUnitOfWork
) -> None:
    apply(service, uow, replacement_requested("ord-1.1"), 5)

    assert row(uow, "ord-1.1").replaces_order == "ord-1"
    assert row(uow, "ord-1.1").placed_at is None  # it was never placed through intake


def test_a_refused_submission_is_counted_once_per_attempt(
    service: Service, uow: ReportingUnitOfWork
) -> None:
    rejected = OrderRejected(
        order_id="ord-9",
        channel="marketplace",
        external_id="mp-9",
        problems=[
            Problem(field="lines[0].sku", message="unknown SKU"),
            Problem(field="customer.email", message="not an e-mail address"),
        ],
    )
    apply(service, uow, rejected, 0)
    apply(service, uow, rejected, 0)
    apply(service, uow, rejected.model_copy(update={"attempt": 2}), 3)

    rejections = uow.session.scalars(select(ReportedRejection)).all()
    assert sorted((r.attempt, r.channel, r.problems) for r in rejections) == [
        (1, "marketplace", 2),
        (2, "marketplace", 2),
    ]


def test_reporting_hears_every_step_and_announces_nothing(service: Service) -> None:
    assert service.publishes == frozenset()
    heard = {contract.type for contract in service.subscriptions}
    assert {"order.placed", "payment.captured", "shipment.dispatched", "order.cancelled"} <= heard
    assert not any(contract.kind == "command" for contract in service.subscriptions)


def test_a_held_order_keeps_when_it_was_held_and_approved(
    service: Service, uow: ReportingUnitOfWork
) -> None:
    reason = ReviewReason(rule=ReviewRule.COUNTRY_MISMATCH, message="billed in FR, shipped to DE")
    held = OrderHeld(order_id="ord-1", reasons=[reason], review_due=at(120))
    apply(service, uow, OrderApproved(order_id="ord-1", reviewer="rita"), 45)
    apply(service, uow, order_placed("ord-1", held_for_review=True), 0)
    apply(service, uow, held, 0)
    apply(service, uow, held, 5)

    reported = row(uow)
    assert (reported.placed_at, reported.held_at, reported.approved_at) == (at(0), at(0), at(45))


def everything(order_id: str = "ord-1") -> list[tuple[Message, float]]:
    """A journey, then a return with its receipt, a refund and a late cancel."""
    authorized = ReturnAuthorized(
        order_id=order_id,
        rma=f"{order_id}.1",
        request_id="req-1",
        resolution=Resolution.REFUND,
        lines=[ItemQuantity(sku="MUG-BLUE", quantity=1)],
        reason="too_small",
        send_by=at(14 * 24 * 60),
    )
    refund = PaymentRefunded(
        order_id=order_id,
        payment_id="pay-1",
        refund_id=f"{order_id}-rf-1",
        amount=Money(amount=1250, currency="EUR"),
        reason="returned",
    )
    return [
        *journey(order_id),
        (authorized, 3 * 24 * 60),
        (return_received(f"{order_id}.1"), 5 * 24 * 60),
        (refund, 5 * 24 * 60 + 1),
        (OrderCancelled(order_id=order_id, reason="customer_request"), 17 * 24 * 60),
    ]


def test_a_batch_written_at_once_leaves_the_rows_one_event_at_a_time_would(
    service: Service, uow: ReportingUnitOfWork, session_for: Callable[[Service], Session]
) -> None:
    events = [*everything("ord-1"), *everything("ord-2")]
    for message, minutes in events:
        apply(service, uow, message, minutes)
    batched = ReportingUnitOfWork(session_for(service))
    apply_batch(service, batched, [*reversed(events), *events])

    assert tables(batched) == tables(uow)
    assert len(tables(uow)["reported_orders"]) == 2


def test_a_batch_merges_with_what_earlier_batches_wrote(
    service: Service, uow: ReportingUnitOfWork, session_for: Callable[[Service], Session]
) -> None:
    events = everything()
    apply_batch(service, uow, events)
    split = ReportingUnitOfWork(session_for(service))
    apply_batch(service, split, events[1::2])
    apply_batch(service, split, events[::2][::-1])
    apply_batch(service, split, events[:3])

    assert tables(split) == tables(uow)


@pytest.mark.parametrize("batched", [False, True], ids=["one at a time", "in one batch"])
def test_the_first_cancel_gives_the_reason_whichever_is_heard_first(
    service: Service, uow: ReportingUnitOfWork, batched: bool
) -> None:
    cancels = [("out_of_stock", 9), ("payment_failed", 4), ("review_rejected", 6)]
    events = [(OrderCancelled(order_id="ord-1", reason=r), m) for r, m in cancels]
    apply_all(service, uow, events, batched)

    assert (row(uow).cancel_reason, row(uow).cancelled_at) == ("payment_failed", at(4))
