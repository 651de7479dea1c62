"""Every aggregate's state machine, held to the same rules: each status can be reached, the
terminal ones lead nowhere, the others lead somewhere, and a move off the table raises."""

from __future__ import annotations

from enum import StrEnum
from itertools import product
from typing import Any

import pytest
from sqlalchemy import String

from services.aftersales.model import CASE_MACHINE, Case
from services.intake.model import Order
from services.intake.status import ORDER_MACHINE
from services.payment.model import Payment
from services.payment.status import PAYMENT_MACHINE
from services.shipping.model import SHIPMENT_MACHINE, Shipment
from services.stock.model import RESERVATION_MACHINE, Reservation
from services.warehouse.model import Fulfillment
from services.warehouse.status import FULFILLMENT_MACHINE
from shared.errors import PermanentError, is_transient
from shared.states import IllegalTransition, StateMachine

Machine = StateMachine[Any]
MACHINES = {
    "intake order": ORDER_MACHINE,
    "payment": PAYMENT_MACHINE,
    "warehouse fulfilment": FULFILLMENT_MACHINE,
    "shipment": SHIPMENT_MACHINE,
    "stock reservation": RESERVATION_MACHINE,
    "after-sales case": CASE_MACHINE,
}
every_machine = pytest.mark.parametrize("machine", MACHINES.values(), ids=MACHINES.keys())
ROWS: dict[str, Any] = {
    "intake order": Order,
    "payment": Payment,
    "warehouse fulfilment": Fulfillment,
    "shipment": Shipment,
    "stock reservation": Reservation,
    "after-sales case": Case,
}
"""The row that keeps each machine's status."""


def reachable(machine: Machine) -> set[StrEnum]:
    seen: set[StrEnum] = set(machine.initial)
    frontier = list(seen)
    while frontier:
        for following in machine.following(frontier.pop()):
            if following not in seen:
                seen.add(following)
                frontier.append(following)
    return seen


@every_machine
def test_every_status_is_reachable_from_a_start(machine: Machine) -> None:
    assert machine.initial
    assert reachable(machine) == set(machine.states)


@every_machine
def test_a_terminal_status_leads_nowhere_and_every_other_one_somewhere(machine: Machine) -> None:
    assert machine.terminal
    for status in machine.states:
        assert bool(machine.following(status)) == (status not in machine.terminal), status


@every_machine
def test_every_move_off_the_table_raises_and_every_move_on_it_passes(machine: Machine) -> None:
    for current, wanted in product(machine.states, repeat=2):
        if wanted in machine.following(current):
            assert machine.can(current, wanted)
            machine.check("it", current, wanted)
        else:
            assert not machine.can(current, wanted)
            with pytest.raises(IllegalTransition, match=f"^it cannot go from {current} to "):
                machine.check("it", current, wanted)


@every_machine
def test_only_a_starting_status_may_start(machine: Machine) -> None:
    for status in machine.states:
        if status in machine.initial:
            machine.check_start("it", status)
        else:
            with pytest.raises(IllegalTransition, match=f"^it cannot start out {status}$"):
                machine.check_start("it", status)


@every_machine
def test_statuses_are_read_back_from_their_stored_strings(machine: Machine) -> None:
    for status in machine.states:
        assert machine.following(status.value) == machine.following(status)


def test_an_illegal_transition_is_a_permanent_error_and_parks_the_message() -> None:
    error = IllegalTransition("it cannot go from a to b")
    assert isinstance(error, PermanentError)
    assert not is_transient(error)


@pytest.mark.parametrize("name", MACHINES)
def test_every_status_fits_its_column(name: str) -> None:
    """PostgreSQL refuses a longer one (SQLite, where the unit tests run, would not)."""
    column = ROWS[name].__table__.c.status.type
    assert isinstance(column, String) and column.length is not None
    too_long = [s.value for s in MACHINES[name].states if len(s.value) > column.length]

    assert too_long == []
