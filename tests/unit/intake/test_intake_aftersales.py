"""Intake after delivery, as a specification: after-sales cases keep the order open.

A return or an exchange (``return.authorized``, case = the RMA) or a replacement
(``replacement.requested``, case = its order id, order = ``replaces_order``) opens a case on a
delivered order: it waits ``in_aftersales``. ``aftersales.case_closed`` closes it; a close that
comes before its open is remembered, so the late open does not reopen it. The completion timer
only notes that completion is due while a case is open; the last close then ends the order:
``completed`` (announced), or ``returned`` (not announced) if a closed case said the order was
fully returned. If completion is not due yet, the last close takes it back to ``delivered``.
Case events for an order that is not delivered (or already ended) change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from services.intake.bootstrap import bootstrap
from services.intake.model import Order
from services.intake.status import OPEN, ORDER_MACHINE, TERMINAL, WAITING, OrderStatus
from services.intake.store import IntakeUnitOfWork
from shared.clock import ManualClock
from shared.contracts import (
    AftersalesCaseClosed,
    CaseOutcome,
    ItemQuantity,
    Message,
    OrderCompleted,
    OrderCompletionDue,
    OrderPlaced,
    PaymentFailed,
    ReplacementRequested,
    Resolution,
    ReturnAuthorized,
    ShipmentDelivered,
)
from shared.service import Service
from shared.timers import Scheduled
from tests.factories import order_submit
from tests.unit.conftest import QueryCounter, handle, listed

AT = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
LINES = [ItemQuantity(sku="MUG-BLUE", quantity=1)]
S = OrderStatus


@pytest.fixture
def service(clock: ManualClock) -> Service:
    return bootstrap(clock)


@pytest.fixture
def uow(service: Service, session_for: Callable[[Service], Session]) -> IntakeUnitOfWork:
    """Intake's unit of work; stock has listed the SKU the factories order."""
    return listed(service, IntakeUnitOfWork(session_for(service)))


class Desk:
    """Intake's bound handlers over one unit of work, as the runtime calls them."""

    def __init__(self, service: Service, uow: IntakeUnitOfWork, clock: ManualClock) -> None:
        self.service = service
        self.uow = uow
        self.clock = clock

    def __call__(self, message: Message) -> list[Message | Scheduled]:
        return list(self.service.handlers[type(message)](message, self.uow))

    def place(self, external_id: str = "WEB-1001") -> Order:
        [placed] = self(order_submit(external_id=external_id))
        assert isinstance(placed, OrderPlaced)
        order = self.uow.orders.get(placed.order_id)
        assert order is not None
        return order

    def delivered(self, external_id: str = "WEB-1001") -> Order:
        order = self.place(external_id)
        [timer] = self(delivered(order.id))
        assert isinstance(timer, Scheduled)
        return order


@pytest.fixture
def desk(service: Service, uow: IntakeUnitOfWork, clock: ManualClock) -> Desk:
    return Desk(service, uow, clock)


def delivered(order_id: str) -> ShipmentDelivered:
    return ShipmentDelivered(
        order_id=order_id, shipment_id="shp-1", tracking_number="TRK1", delivered_at=AT
    )


def authorized(order_id: str, n: int = 1, resolution: str = "refund") -> ReturnAuthorized:
    return ReturnAuthorized(
        order_id=order_id,
        rma=f"{order_id}.{n}",
        request_id=f"req-{n}",
        resolution=Resolution(resolution),
        lines=LINES,
        reason="too small",
        send_by=AT + timedelta(days=14),
    )


def replacement(order_id: str, n: int = 1, request: str = "resend") -> ReplacementRequested:
    submit = order_submit()
    return ReplacementRequested(
        order_id=f"{order_id}.{n}",
        replaces_order=order_id,
        request="resend" if request == "resend" else "exchange",
        lines=LINES,
        customer=submit.customer,
        delivery=submit.delivery,
        reason="missing from the parcel",
    )


def closed(
    order_id: str,
    n: int = 1,
    fully_returned: bool = False,
    outcome: CaseOutcome = CaseOutcome.REFUNDED,
) -> AftersalesCaseClosed:
    return AftersalesCaseClosed(
        order_id=order_id, case_id=f"{order_id}.{n}", outcome=outcome, fully_returned=fully_returned
    )


def due(order_id: str) -> OrderCompletionDue:
    return OrderCompletionDue(order_id=order_id)


# -- the state machine ----------------------------------------------------------------------


def test_the_statuses_that_lead_nowhere_are_the_terminal_ones() -> None:
    assert {status for status in OrderStatus if not ORDER_MACHINE.following(status)} == {
        S.COMPLETED,
        S.RETURNED,
        S.CANCELLED,
    }
    assert {S.COMPLETED, S.RETURNED, S.CANCELLED, S.REJECTED} == TERMINAL
    assert {S.HELD, S.BACKORDERED, S.AWAITING_PAYMENT, S.IN_AFTERSALES} == WAITING
    assert {S.PLACED, S.HELD, S.BACKORDERED, S.AWAITING_PAYMENT} == OPEN


def test_only_a_delivered_order_goes_into_after_sales_and_out_of_it() -> None:
    into = {status for status in S if ORDER_MACHINE.can(status, S.IN_AFTERSALES)}
    returned = {status for status in S if ORDER_MACHINE.can(status, S.RETURNED)}
    assert into == {S.DELIVERED}
    assert returned == {S.DELIVERED, S.IN_AFTERSALES}
    assert ORDER_MACHINE.following(S.IN_AFTERSALES) == {S.DELIVERED, S.COMPLETED, S.RETURNED}


# -- opening cases --------------------------------------------------------------------------


def test_a_return_authorized_opens_a_case_and_the_order_waits_in_after_sales(desk: Desk) -> None:
    order = desk.delivered()

    assert desk(authorized(order.id)) == []

    assert (order.status, order.waiting, order.terminal) == ("in_aftersales", True, False)
    assert order.open_cases == [f"{order.id}.1"]


def test_a_resend_opens_a_case_on_the_order_it_replaces(desk: Desk) -> None:
    order = desk.delivered()

    assert desk(replacement(order.id)) == []

    assert order.status == "in_aftersales"
    assert order.open_cases == [f"{order.id}.1"]
    assert desk.uow.orders.get(f"{order.id}.1") is None


def test_an_exchange_s_replacement_belongs_to_the_case_its_rma_opened(desk: Desk) -> None:
    order = desk.delivered()
    desk(authorized(order.id, resolution="exchange"))

    assert desk(replacement(order.id, request="exchange")) == []

    assert order.open_cases == [f"{order.id}.1"]


def test_a_case_opened_twice_is_one_case(desk: Desk) -> None:
    order = desk.delivered()
    desk(authorized(order.id))

    assert desk(authorized(order.id)) == []

    assert order.open_cases == [f"{order.id}.1"]
    assert desk(closed(order.id)) == []
    assert (order.status, order.open_cases) == ("delivered", [])


def test_more_cases_may_be_open_at_once(desk: Desk) -> None:
    order = desk.delivered()

    desk(authorized(order.id, 1))
    desk(replacement(order.id, 2))

    assert order.open_cases == [f"{order.id}.1", f"{order.id}.2"]
    assert order.status == "in_aftersales"


# -- closing cases --------------------------------------------------------------------------


def test_the_last_case_closing_before_completion_is_due_takes_the_order_back_to_delivered(
    desk: Desk,
) -> None:
    order = desk.delivered()
    desk(authorized(order.id, 1))
    desk(replacement(order.id, 2))

    assert desk(closed(order.id, 1)) == []
    assert order.status == "in_aftersales"
    assert desk(closed(order.id, 2, outcome=CaseOutcome.RESENT)) == []

    assert (order.status, order.open_cases) == ("delivered", [])
    assert order.closed_cases == [f"{order.id}.1", f"{order.id}.2"]
    assert desk(due(order.id)) == [OrderCompleted(order_id=order.id, channel=order.channel)]
    assert order.status == "completed"


def test_completion_due_while_a_case_is_open_waits_for_the_last_close(desk: Desk) -> None:
    order = desk.delivered()
    desk(authorized(order.id, 1))
    desk(authorized(order.id, 2))

    assert desk(due(order.id)) == []
    assert (order.status, order.completion_due) == ("in_aftersales", True)
    assert desk(due(order.id)) == []
    assert desk(closed(order.id, 1)) == []
    assert order.status == "in_aftersales"

    assert desk(closed(order.id, 2, outcome=CaseOutcome.EXPIRED)) == [
        OrderCompleted(order_id=order.id, channel=order.channel)
    ]
    assert (order.status, order.terminal) == ("completed", True)


def test_a_fully_returned_order_ends_returned_without_an_announcement(desk: Desk) -> None:
    order = desk.delivered()
    desk(authorized(order.id))
    desk(due(order.id))

    assert desk(closed(order.id, fully_returned=True)) == []

    assert (order.status, order.terminal, order.fully_returned) == ("returned", True, True)


def test_a_fully_returned_order_back_in_delivered_ends_returned_when_completion_is_due(
    desk: Desk,
) -> None:
    order = desk.delivered()
    desk(authorized(order.id))
    desk(closed(order.id, fully_returned=True))
    assert order.status == "delivered"

    assert desk(due(order.id)) == []

    assert order.status == "returned"
    assert desk(due(order.id)) == []


def test_any_closed_case_that_said_fully_returned_makes_the_order_returned(desk: Desk) -> None:
    order = desk.delivered()
    desk(authorized(order.id, 1))
    desk(authorized(order.id, 2))
    desk(closed(order.id, 1, fully_returned=True))
    desk(due(order.id))

    assert desk(closed(order.id, 2, outcome=CaseOutcome.EXPIRED)) == []

    assert order.status == "returned"


def test_a_case_closed_twice_ends_the_order_once(desk: Desk) -> None:
    order = desk.delivered()
    desk(authorized(order.id))
    desk(due(order.id))

    assert desk(closed(order.id)) == [OrderCompleted(order_id=order.id, channel=order.channel)]
    assert desk(closed(order.id)) == []
    assert desk(closed(order.id, fully_returned=True)) == []
    assert order.status == "completed"


def test_a_duplicate_close_does_not_close_another_case(desk: Desk) -> None:
    order = desk.delivered()
    desk(authorized(order.id, 1))
    desk(closed(order.id, 1))
    desk(authorized(order.id, 2))

    assert desk(closed(order.id, 1)) == []

    assert (order.status, order.open_cases) == ("in_aftersales", [f"{order.id}.2"])


# -- a close that overtakes its open --------------------------------------------------------


def test_a_close_before_its_open_is_remembered_so_the_late_open_does_not_reopen_it(
    desk: Desk,
) -> None:
    order = desk.delivered()

    assert desk(closed(order.id)) == []
    assert (order.status, order.closed_cases) == ("delivered", [f"{order.id}.1"])
    assert desk(authorized(order.id)) == []
    assert desk(replacement(order.id)) == []

    assert (order.status, order.open_cases) == ("delivered", [])
    assert desk(due(order.id)) == [OrderCompleted(order_id=order.id, channel=order.channel)]


def test_a_close_before_its_open_saying_fully_returned_still_counts(desk: Desk) -> None:
    order = desk.delivered()
    desk(closed(order.id, fully_returned=True))
    desk(authorized(order.id))

    assert desk(due(order.id)) == []
    assert order.status == "returned"


def test_a_close_before_its_open_leaves_the_other_open_cases_alone(desk: Desk) -> None:
    order = desk.delivered()
    desk(authorized(order.id, 1))
    desk(due(order.id))

    assert desk(closed(order.id, 2)) == []
    assert (order.status, order.open_cases) == ("in_aftersales", [f"{order.id}.1"])
    assert desk(replacement(order.id, 2)) == []
    assert order.open_cases == [f"{order.id}.1"]

    assert desk(closed(order.id, 1)) == [OrderCompleted(order_id=order.id, channel=order.channel)]


# -- case events for an order that is not delivered, or already ended -----------------------


def case_events(order_id: str) -> list[Message]:
    return [authorized(order_id), replacement(order_id, 2), closed(order_id, 3, True)]


def test_case_events_for_an_order_not_delivered_change_nothing(desk: Desk) -> None:
    order = desk.place()

    for event in case_events(order.id):
        assert desk(event) == []

    assert order.status == "placed"
    assert (order.open_cases, order.closed_cases, order.fully_returned) == ([], [], False)


@pytest.mark.parametrize("ended", ["completed", "cancelled"])
def test_case_events_after_the_order_ended_change_nothing(desk: Desk, ended: str) -> None:
    """A late race: the order completed before intake heard of the case."""
    if ended == "completed":
        order = desk.delivered()
        desk(due(order.id))
    else:
        order = desk.place()
        desk(PaymentFailed(order_id=order.id, payment_id="p", method="card", reason="declined"))

    for event in case_events(order.id):
        assert desk(event) == []

    assert order.status == ended
    assert (order.open_cases, order.closed_cases) == ([], [])


def test_a_returned_order_stays_returned(desk: Desk) -> None:
    order = desk.delivered()
    desk(closed(order.id, 1, fully_returned=True))
    desk(due(order.id))

    for event in [*case_events(order.id), due(order.id), delivered(order.id)]:
        assert desk(event) == []
    assert order.status == "returned"


def test_case_events_about_an_unknown_order_do_nothing(desk: Desk) -> None:
    for event in case_events("ord_nope"):
        assert desk(event) == []
    assert desk.uow.orders.counts_by_status() == {}


# -- batches --------------------------------------------------------------------------------


def test_a_batch_of_case_events_locks_its_orders_with_one_select(
    service: Service,
    session_for: Callable[[Service], Session],
    clock: ManualClock,
    count_queries: Callable[[Session], QueryCounter],
) -> None:
    """A replacement names its case, not its order: the order it replaces is the one locked,
    even when nothing else in the batch names that order."""

    def selects_for(orders: int) -> int:
        earlier = session_for(service)
        listed(service, IntakeUnitOfWork(earlier))
        order_ids = []
        for n in range(orders):
            submit = order_submit(external_id=f"WEB-{n:02}")
            [placed] = handle(service, submit, IntakeUnitOfWork(earlier))
            assert isinstance(placed, OrderPlaced)
            order_ids.append(placed.order_id)
            handle(service, delivered(placed.order_id), IntakeUnitOfWork(earlier))
        earlier.commit()
        ending, resent = order_ids[: orders // 2], order_ids[orders // 2 :]
        messages: list[Message] = [replacement(o) for o in resent]
        for o in ending:
            messages += [
                closed(o, 3),
                authorized(o, 1),
                replacement(o, 2),
                due(o),
                closed(o, 1),
                replacement(o, 3),
                closed(o, 2, fully_returned=True),
            ]

        session = Session(earlier.get_bind(), expire_on_commit=False)
        uow = IntakeUnitOfWork(session)
        counter = count_queries(session)
        uow.preload(messages)
        announced = [e for m in messages for e in service.handlers[type(m)](m, uow)]
        session.commit()
        selects = counter.selects
        assert announced == []
        assert uow.orders.counts_by_status() == {
            "returned": len(ending),
            "in_aftersales": len(resent),
        }
        session.close()
        return selects

    assert selects_for(8) == selects_for(2) == 1
