"""The pure parts of the saga-health metrics: which announcements are compensations and with
what bounded reason, what a committed batch counts, intake's gauges from its counts, where a
stuck order waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import MetaData

from orderflow.cli.stuck import _duration
from orderflow.operator.stuck import waits_on
from services.aftersales.handlers import REPLACEMENT_UNAVAILABLE, REPLACEMENT_UNDELIVERABLE
from services.intake.gauges import SagaGauges, saga_view
from services.intake.settings import IntakeSettings
from services.intake.status import ACTIVE, STUCK_AFTER_SECONDS, OrderStatus
from services.intake.store import StatusCount
from services.payment.money import Reason
from shared.batch_metrics import count_batch
from shared.clock import SystemClock
from shared.compensations import PAYMENT_REASONS, compensation, label_sets
from shared.contracts import (
    FulfillmentCancelled,
    OrderCancelled,
    OrderPlaced,
    PaymentRefunded,
    PaymentVoided,
    StockReleased,
)
from shared.envelope import Envelope
from shared.errors import TransientError
from shared.failures import Failures
from shared.health import Health
from shared.inbound import Inbound
from shared.settings import RetryPolicy
from shared.timers import Timers, timers_table
from shared.worker_database import WorkerDatabase
from tests.factories import order_placed

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


CUSTOMER = "customer_cancelled"


@pytest.mark.parametrize(
    ("type_name", "reason", "expected"),
    [
        ("order.cancelled", "payment_failed", ("order_cancelled", "payment_failed")),
        ("stock.released", CUSTOMER, ("stock_released", CUSTOMER)),
        ("payment.refunded", "overpayment", ("payment_refunded", "overpayment")),
        ("payment.voided", "cancelled", ("payment_voided", "cancelled")),
        ("stock.restocked", "returned_to_sender", ("stock_restocked", "returned_to_sender")),
        ("payment.refunded", "my cat ate it", ("payment_refunded", "other")),
        ("order.cancelled", None, ("order_cancelled", "other")),
        ("fulfillment.cancelled", "changed my mind, sorry", ("fulfillment_cancelled", CUSTOMER)),
        ("stock.reserved", "payment_failed", None),
    ],
)
def test_a_compensation_has_a_kind_and_a_bounded_reason(
    type_name: str, reason: str | None, expected: tuple[str, str] | None
) -> None:
    data = {} if reason is None else {"reason": reason}
    assert compensation(type_name, data) == expected


def test_the_known_payment_reasons_are_payments_and_aftersales_own() -> None:
    """The label's allowed values follow the reasons the services actually write."""
    written = {r.value for r in Reason if r is not Reason.CASE}
    aftersales = {"returned", REPLACEMENT_UNAVAILABLE, REPLACEMENT_UNDELIVERABLE}
    assert written | aftersales == PAYMENT_REASONS


def test_only_the_compensations_a_worker_publishes_get_label_sets() -> None:
    labels = label_sets([OrderPlaced, FulfillmentCancelled, StockReleased])
    assert ("fulfillment_cancelled", "customer_cancelled") in labels
    assert ("stock_released", "out_of_stock") in labels
    assert ("stock_released", "other") in labels
    assert {kind for kind, _ in labels} == {"fulfillment_cancelled", "stock_released"}
    assert label_sets([PaymentVoided, PaymentRefunded, OrderCancelled])


def wrapped(type_name: str, reason: str, order_id: str = "ord-1") -> Envelope:
    return Envelope(
        id=f"{type_name}-{order_id}",
        type=type_name,
        source="unit",
        subject=order_id,
        time=NOW,
        correlationid=order_id,
        data={"order_id": order_id, "reason": reason},
    )


def test_a_batch_counts_its_outcomes_critical_times_and_compensations_once() -> None:
    worker = "unit-batch"
    announced = [wrapped("stock.released", "payment_failed"), wrapped("stock.reserved", "x")]
    handled = [("payment.failed", NOW - timedelta(seconds=3)), ("payment.failed", NOW)]

    count_batch(worker, handled, ["payment.failed"], announced, 0.0, NOW)

    assert (
        sample("orderflow_messages_total", worker=worker, type="payment.failed", outcome="handled")
        == 2
    )
    assert (
        sample(
            "orderflow_messages_total", worker=worker, type="payment.failed", outcome="duplicate"
        )
        == 1
    )
    assert (
        sample("orderflow_critical_time_seconds_count", worker=worker, type="payment.failed") == 2
    )
    assert sample("orderflow_critical_time_seconds_sum", worker=worker, type="payment.failed") == 3
    assert (
        sample(
            "orderflow_critical_time_seconds_bucket", worker=worker, type="payment.failed", le="1.0"
        )
        == 1
    )
    compensations = {"worker": worker, "kind": "stock_released", "reason": "payment_failed"}
    assert sample("orderflow_compensations_total", **compensations) == 1
    assert (
        sample("orderflow_compensations_total", worker=worker, kind="stock_reserved", reason="x")
        is None
    )


def test_a_critical_time_from_a_clock_ahead_of_ours_counts_as_zero() -> None:
    count_batch("unit-skew", [("order.placed", NOW + timedelta(seconds=2))], [], [], 0.0, NOW)
    assert (
        sample("orderflow_critical_time_seconds_sum", worker="unit-skew", type="order.placed") == 0
    )


def test_intakes_view_has_every_known_label_set_and_ages_the_oldest_change() -> None:
    counts = [
        StatusCount("placed", "web", 3, NOW - timedelta(hours=2), 1),
        StatusCount("placed", "pos", 1, NOW - timedelta(hours=5), 0),
        StatusCount("completed", "web", 7, NOW - timedelta(days=9), 0),
    ]
    view = saga_view(counts, NOW)

    assert view.orders[("placed", "web")] == 3
    assert view.orders[("completed", "web")] == 7
    assert view.orders[("cancelled", "phone")] == 0
    assert len(view.orders) == len(OrderStatus) * 5
    assert view.oldest_age == {s.value: (5 * 3600.0 if s == "placed" else 0.0) for s in ACTIVE}
    assert view.stuck == {s.value: (1 if s == "placed" else 0) for s in ACTIVE}
    assert "completed" not in view.stuck


def test_a_channel_that_has_no_orders_any_more_reads_zero() -> None:
    gauges = SagaGauges(STUCK_AFTER_SECONDS)
    gauges.report(saga_view([StatusCount("placed", "kiosk", 2, NOW, 0)], NOW))
    assert sample("orderflow_orders", state="placed", channel="kiosk") == 2
    gauges.report(saga_view([], NOW))
    assert sample("orderflow_orders", state="placed", channel="kiosk") == 0


def test_stuck_bounds_are_set_per_status_over_the_defaults() -> None:
    settings = IntakeSettings(stuck_after_seconds={"placed": 60})
    assert settings.stuck_after_seconds[OrderStatus.PLACED] == 60
    assert settings.stuck_after_seconds[OrderStatus.DELIVERED] == STUCK_AFTER_SECONDS["delivered"]


@pytest.mark.parametrize(
    ("given", "problem"),
    [({"completed": 60}, "an order that ended is never stuck"), ({"placed": 0}, "more than 0")],
)
def test_a_stuck_bound_that_cannot_be_is_refused_naming_the_status(
    given: dict[str, float], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        IntakeSettings(stuck_after_seconds=given)


PACK, DELIVER = "packing", "the carrier to deliver"


@pytest.mark.parametrize(
    ("status", "announced", "expected"),
    [
        ("placed", {"order.placed"}, ("stock", "a reservation")),
        ("placed", {"order.placed", "stock.reserved"}, ("payment", "payment")),
        ("placed", {"stock.reserved", "payment.captured", "stock.committed"}, ("warehouse", PACK)),
        ("placed", {"fulfillment.packed", "shipment.dispatched"}, ("shipping", DELIVER)),
        ("awaiting_payment", {"payment.pending"}, ("payment", "the customer's transfer")),
        ("delivered", set(), ("intake", "the completion window")),
    ],
)  # fmt: skip
def test_a_stuck_order_waits_on_the_worker_after_its_furthest_step(
    status: str, announced: set[str], expected: tuple[str, str]
) -> None:
    assert waits_on(status, announced) == expected


def test_durations_read_at_a_glance() -> None:
    assert [_duration(s) for s in (5, 125, 7200, 90000, 864000)] == [
        "5s",
        "2m5s",
        "2h",
        "1d1h",
        "10d",
    ]


def test_an_order_placed_factory_is_no_compensation() -> None:
    placed = order_placed()
    assert compensation(placed.type, placed.model_dump(mode="json")) is None


def test_a_transient_error_retried_in_process_is_counted_by_its_class() -> None:
    policy = RetryPolicy(handler_attempts=4, handler_backoff_seconds=0.001)
    database = WorkerDatabase(Health("unit-retries", 60))
    timers = Timers(timers_table(MetaData()))
    failures = Failures("unit-retries", policy, database, timers, SystemClock())
    calls = 0

    def gateway_times_out_twice() -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise TransientError("gateway timed out charging (simulated)")

    item = Inbound(wrapped("payment.failed", "timeout"))
    assert failures.try_alone(item, gateway_times_out_twice) == []
    assert sample("orderflow_retries_total", worker="unit-retries", error="TransientError") == 2
