"""Every aggregate's state machine in one shape: which status may follow which.

Each service keeps its status enum and its diagram; its table is a ``StateMachine``. A guard
asks ``can`` and turns a move the table does not allow into a no-op (that is how a duplicate or
late event does nothing); a step that only a bug could ask for out of turn calls ``check``,
which raises ``IllegalTransition`` (a permanent error: the message is parked).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from shared.errors import IllegalTransition

__all__ = ["IllegalTransition", "StateMachine"]

State = TypeVar("State", bound=StrEnum)


class StateMachine(Generic[State]):
    """``moves`` names where each status may go; a status absent from it goes nowhere. The
    ``terminal`` statuses are declared, not derived, so a test can hold the table to them."""

    def __init__(
        self,
        states: type[State],
        moves: Mapping[State, Iterable[State]],
        *,
        initial: Iterable[State],
        terminal: Iterable[State],
    ) -> None:
        self.states = states
        self.initial = frozenset(initial)
        self.terminal = frozenset(terminal)
        self._moves = {state: frozenset(moves.get(state, ())) for state in states}

    def following(self, current: str) -> frozenset[State]:
        return self._moves[self.states(current)]

    def can(self, current: str, wanted: State) -> bool:
        return wanted in self.following(current)

    def check(self, subject: str, current: str, wanted: State) -> None:
        if not self.can(current, wanted):
            raise IllegalTransition(f"{subject} cannot go from {current} to {wanted}")

    def check_start(self, subject: str, state: State) -> None:
        if state not in self.initial:
            raise IllegalTransition(f"{subject} cannot start out {state}")
