"""Order review, as a specification: the rules that hold an order, the held state, and the
reviewer's or the timer's decision."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from orderflow.cluster.databases import Entry
from orderflow.operator.views import summary
from services.intake.bootstrap import bootstrap
from services.intake.model import Order, OrderStatus
from services.intake.review import ReviewRules
from services.intake.settings import IntakeSettings
from services.intake.store import IntakeUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    CancelReason,
    FulfillmentCancelled,
    Message,
    OrderApproved,
    OrderCancelled,
    OrderHeld,
    OrderLine,
    OrderPlaced,
    OrderReview,
    OrderReviewDue,
    PaymentInstruction,
    PaymentMethod,
    ReviewDecision,
    ReviewReason,
    ReviewRule,
    StockBackordered,
)
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_submit
from tests.unit.conftest import handle, listed

RULES = {
    "review_amount_over": {"EUR": "100"},
    "review_units_of_one_sku": 5,
    "review_cash_on_delivery_over": {"EUR": "30"},
}
COD = PaymentInstruction(method=PaymentMethod.CASH_ON_DELIVERY)


def rules(**settings: Any) -> ReviewRules:
    return ReviewRules.from_settings(IntakeSettings(**{**RULES, **settings}))


def tripped(**submit: Any) -> list[ReviewRule]:
    return [reason.rule for reason in rules().reasons(order_submit(**submit))]


def mugs(quantity: int, unit_price: int = 100) -> list[OrderLine]:
    return [OrderLine(sku="MUG-BLUE", quantity=quantity, unit_price=unit_price)]


# -- the rules ------------------------------------------------------------------------------


def test_an_ordinary_order_trips_no_rule() -> None:
    assert tripped() == []


def test_an_order_over_the_amount_is_held_and_the_limit_itself_passes() -> None:
    assert tripped(lines=mugs(1, 10_000 - 495)) == []
    assert tripped(lines=mugs(1, 10_000 - 494)) == [ReviewRule.AMOUNT]


def test_the_amount_rule_reads_the_total_in_the_orders_own_currency() -> None:
    yen = rules(review_amount_over={"JPY": "5000"})

    assert yen.reasons(order_submit(currency="JPY", lines=mugs(1, 6000), shipping_fee=0)) != []
    assert yen.reasons(order_submit(lines=mugs(1, 600_000))) == []  # no EUR limit: no rule


def test_units_of_one_sku_count_over_every_line() -> None:
    split = [*mugs(3), *mugs(3)]

    assert tripped(lines=mugs(5)) == []
    [reason] = rules().reasons(order_submit(lines=split))
    assert reason == ReviewReason(
        rule=ReviewRule.UNITS_OF_ONE_SKU, message="MUG-BLUE: 6 units, more than 5"
    )


def test_cash_on_delivery_over_its_limit_is_held_and_a_card_is_not() -> None:
    assert tripped(payment=COD, lines=mugs(1, 3000)) == [ReviewRule.CASH_ON_DELIVERY]
    assert tripped(lines=mugs(1, 3000)) == []


def test_billing_elsewhere_than_the_delivery_is_held_unless_switched_off() -> None:
    assert tripped(billing_country="FR") == [ReviewRule.COUNTRY_MISMATCH]
    assert tripped(billing_country="DE") == []
    assert tripped() == []
    assert rules(review_country_mismatch=False).reasons(order_submit(billing_country="FR")) == []


def test_every_rule_tripped_is_a_reason() -> None:
    assert tripped(payment=COD, lines=mugs(60, 200), billing_country="FR") == [
        ReviewRule.AMOUNT,
        ReviewRule.CASH_ON_DELIVERY,
        ReviewRule.UNITS_OF_ONE_SKU,
        ReviewRule.COUNTRY_MISMATCH,
    ]


def test_no_rule_holds_anything_by_default_but_a_stated_billing_country() -> None:
    defaults = ReviewRules.from_settings(IntakeSettings())
    big = order_submit(lines=mugs(9000, 100_000), payment=COD)

    assert defaults.reasons(big) == []


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("review_amount_over", {"XXY": "1"}, "XXY is not an ISO 4217 currency code"),
        ("review_cash_on_delivery_over", {"EUR": "-1"}, "EUR: -1 is negative"),
        ("review_amount_over", {"JPY": "0.5"}, "JPY"),
        ("review_units_of_one_sku", 0, "greater than or equal to 1"),
        ("review_timeout_seconds", 0, "greater than 0"),
        ("review_timeout_decision", "ignore", "'approve' or 'reject'"),
    ],
)
def test_bad_review_settings_name_the_setting_and_the_problem(
    setting: str, value: object, problem: str
) -> None:
    with pytest.raises(ValidationError) as error:
        IntakeSettings(**{setting: value})

    [found] = error.value.errors()
    assert found["loc"][0] == setting
    assert problem in found["msg"]


def test_a_held_order_counts_as_stuck_only_after_its_review_timer() -> None:
    with pytest.raises(ValidationError, match=r"held's bound \(259200s\) must be longer than "):
        IntakeSettings(review_timeout_seconds=4 * 24 * 3600)

    longer = IntakeSettings(
        review_timeout_seconds=4 * 86400, stuck_after_seconds={"held": 5 * 86400}
    )
    assert longer.stuck_after_seconds[OrderStatus.HELD] == 5 * 86400


# -- holding, approving, rejecting ----------------------------------------------------------

TIMEOUT = timedelta(hours=6)


@pytest.fixture
def settings() -> dict[str, Any]:
    return {**RULES, "review_timeout_seconds": TIMEOUT.total_seconds()}


@pytest.fixture
def service(clock: ManualClock, settings: dict[str, Any]) -> Service:
    return bootstrap(clock, IntakeSettings(**settings))


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> IntakeUnitOfWork:
    return listed(service, IntakeUnitOfWork(session_for(service)))


def hold(service: Service, uow: IntakeUnitOfWork) -> tuple[OrderPlaced, OrderHeld, Scheduled]:
    placed, held, timer = handle(service, order_submit(billing_country="FR"), uow)
    assert isinstance(placed, OrderPlaced) and isinstance(held, OrderHeld)
    assert isinstance(timer, Scheduled)
    return placed, held, timer


def order_of(uow: IntakeUnitOfWork, order_id: str) -> Order:
    order = uow.orders.get(order_id)
    assert order is not None
    return order


def review(order_id: str, decision: ReviewDecision, reason: str = "") -> OrderReview:
    return OrderReview(order_id=order_id, decision=decision, reviewer="rita", reason=reason)


def backordered(order_id: str) -> StockBackordered:
    day = date(2026, 3, 9)
    return StockBackordered(order_id=order_id, lines=[], expected_on=day, expires_on=day)


def test_an_order_a_rule_trips_is_placed_held_with_its_reasons_and_timer(
    service: Service, uow: IntakeUnitOfWork, clock: ManualClock
) -> None:
    placed, held, timer = hold(service, uow)

    assert placed.held_for_review
    assert held.reasons == [
        ReviewReason(rule=ReviewRule.COUNTRY_MISMATCH, message="billed in FR, shipped to DE")
    ]
    assert held.review_due == clock.now() + TIMEOUT == timer.due
    assert timer.message == OrderReviewDue(order_id=placed.order_id)
    order = order_of(uow, placed.order_id)
    assert (order.status, order.review_reasons, order.waiting) == ("held", held.reasons, True)


@pytest.mark.parametrize(
    "settings",
    [{**RULES, "review_timeout_seconds": 3 * 86400, "stuck_after_seconds": {"held": 4 * 86400}}],
)
def test_a_held_order_is_promised_as_if_its_review_took_all_its_time(
    service: Service, uow: IntakeUnitOfWork, clock: ManualClock
) -> None:
    [unheld] = handle(service, order_submit(external_id="EXT-unheld"), uow)
    placed, _, _ = hold(service, uow)

    assert isinstance(unheld, OrderPlaced) and unheld.expected_delivery is not None
    assert placed.expected_delivery == unheld.expected_delivery + timedelta(days=3)
    assert order_of(uow, placed.order_id).expected_delivery == placed.expected_delivery


def test_an_order_no_rule_trips_is_placed_as_before(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    [placed] = handle(service, order_submit(), uow)

    assert isinstance(placed, OrderPlaced) and not placed.held_for_review


def test_an_approval_lets_the_order_go_on_once(service: Service, uow: IntakeUnitOfWork) -> None:
    placed, _, _ = hold(service, uow)
    approve = review(placed.order_id, ReviewDecision.APPROVE, "called the customer")

    assert handle(service, approve, uow) == [
        OrderApproved(
            order_id=placed.order_id, reviewer="rita", reason="called the customer", channel="web"
        )
    ]
    assert handle(service, approve, uow) == []
    assert handle(service, review(placed.order_id, ReviewDecision.REJECT), uow) == []
    order = order_of(uow, placed.order_id)
    assert (order.status, order.reviewed_by) == (OrderStatus.PLACED, "rita")


def test_a_reject_cancels_with_the_reviewers_reason_and_a_later_approval_does_nothing(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    placed, _, _ = hold(service, uow)

    assert handle(service, review(placed.order_id, ReviewDecision.REJECT, "stolen card"), uow) == [
        OrderCancelled(
            order_id=placed.order_id,
            reason=CancelReason.REVIEW_REJECTED,
            detail="stolen card",
            channel="web",
        )
    ]
    assert handle(service, review(placed.order_id, ReviewDecision.APPROVE), uow) == []
    assert order_of(uow, placed.order_id).status == OrderStatus.CANCELLED


def test_a_review_of_an_order_never_held_changes_nothing(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    [placed] = handle(service, order_submit(), uow)

    for decision in ReviewDecision:
        assert handle(service, review(placed.order_id, decision), uow) == []
    assert handle(service, review("ord-unknown", ReviewDecision.APPROVE), uow) == []
    assert order_of(uow, placed.order_id).status == OrderStatus.PLACED


def test_the_review_timer_rejects_by_default(service: Service, uow: IntakeUnitOfWork) -> None:
    placed, _, timer = hold(service, uow)

    [cancelled] = handle(service, timer.message, uow)

    assert isinstance(cancelled, OrderCancelled)
    assert cancelled.reason == CancelReason.REVIEW_REJECTED
    assert cancelled.detail == "not reviewed within 6 hours"
    assert order_of(uow, placed.order_id).reviewed_by == ""


@pytest.mark.parametrize("settings", [{**RULES, "review_timeout_decision": "approve"}])
def test_the_review_timer_approves_when_the_settings_say_so(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    placed, _, timer = hold(service, uow)

    assert handle(service, timer.message, uow) == [
        OrderApproved(
            order_id=placed.order_id,
            reviewer="",
            reason="not reviewed within 48 hours",
            channel="web",
        )
    ]


def test_the_timer_after_a_reviewers_decision_does_nothing(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    placed, _, timer = hold(service, uow)
    handle(service, review(placed.order_id, ReviewDecision.APPROVE), uow)

    assert handle(service, timer.message, uow) == []
    assert order_of(uow, placed.order_id).status == OrderStatus.PLACED


def test_a_held_order_waits_for_its_review_not_for_stock(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    """Stock may backorder it meanwhile; the review is still what it waits for."""
    placed, _, _ = hold(service, uow)

    assert handle(service, backordered(placed.order_id), uow) == []
    assert order_of(uow, placed.order_id).status == OrderStatus.HELD


def test_a_held_order_stock_backordered_is_backordered_once_approved(
    service: Service, uow: IntakeUnitOfWork
) -> None:
    """Approved, it stands where it would without the hold: waiting for the goods on order."""
    placed, _, _ = hold(service, uow)
    handle(service, backordered(placed.order_id), uow)

    [approved] = handle(service, review(placed.order_id, ReviewDecision.APPROVE), uow)

    assert isinstance(approved, OrderApproved)
    order = order_of(uow, placed.order_id)
    assert (order.status, order.reviewed_by, order.waiting) == ("backordered", "rita", True)
    assert handle(service, backordered(placed.order_id), uow) == []
    assert order_of(uow, placed.order_id).status == OrderStatus.BACKORDERED


def test_the_customer_may_cancel_a_held_order(service: Service, uow: IntakeUnitOfWork) -> None:
    placed, _, timer = hold(service, uow)
    stopped = FulfillmentCancelled(order_id=placed.order_id, reason="changed my mind")

    [cancelled] = handle(service, stopped, uow)

    assert isinstance(cancelled, OrderCancelled) and cancelled.reason == "customer_cancelled"
    no_more: list[Message | Scheduled] = []
    assert handle(service, timer.message, uow) == no_more


def test_order_show_says_why_an_order_was_held_and_who_approved_it(
    service: Service, uow: IntakeUnitOfWork, clock: ManualClock
) -> None:
    placed, held, _ = hold(service, uow)
    [approved] = handle(service, review(placed.order_id, ReviewDecision.APPROVE, "known"), uow)

    def shown(message: Message) -> str:
        data = json.loads(message.model_dump_json())
        return summary(Entry(clock.now(), "intake", message.type, data))

    assert shown(held) == (
        "country_mismatch: billed in FR, shipped to DE; decided by 2026-03-02 15:00 unless reviewed"
    )
    assert shown(approved) == "rita (known)"
