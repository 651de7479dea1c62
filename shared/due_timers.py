"""Due timers: the worker's own scheduled messages (deadlines, reminders) and delayed tries,
handled (or forwarded) in the transaction that claims them.

When the next one is due is known without a query on most passes: the worker reads it from its
table every ``look_every`` seconds (for timers another replica or process wrote), and its own
writes since then tell the rest (``Timers.written_due``). A timer a handler sets for now fires on
the same pass, and a worker with nothing due asks its database nothing between looks (a look
cost about a millisecond of CPU, 20 times a second, in every worker).

If a batch of them fails, each is tried on its own as a delivery would be: retried in process,
then given a delayed try or parked and removed, so none blocks those behind it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shared.clock import Clock
from shared.contracts import contract_for
from shared.envelope import CONTENT_TYPE
from shared.failures import Failures
from shared.inbound import Inbound, Parked, admit
from shared.log_events import error_text
from shared.logs import get_logger
from shared.publisher import Publisher
from shared.service import Service
from shared.timers import TimerRow, Timers
from shared.transaction import BatchTransaction
from shared.worker_database import WorkerDatabase

log = get_logger("orderflow.worker")


@dataclass(eq=False)
class DueTimers:
    service: Service
    batch_size: int
    database: WorkerDatabase
    timers: Timers
    transaction: BatchTransaction
    failures: Failures
    publisher: Publisher
    clock: Clock
    look_every: float = 0.2
    _known_due: datetime | None = field(default=None, init=False)
    _look_at: float = field(default=0.0, init=False)

    @property
    def name(self) -> str:
        return self.service.name

    def next_due(self) -> datetime | None:
        """The earliest due in the table, read now."""
        with self.database.opened() as session:
            due = self.timers.next_due(session)
        self.database.answered()
        self._known_due, self.timers.written_due = due, None
        self._look_at = time.monotonic() + self.look_every
        return due

    def expected(self) -> datetime | None:
        """The earliest due this worker knows of, looking at the table if a look is due."""
        return self.next_due() if time.monotonic() >= self._look_at else self._known()

    def _known(self) -> datetime | None:
        """The earliest due of its last look, or of what it wrote since."""
        written = self.timers.written_due
        if written is not None and (self._known_due is None or written < self._known_due):
            self._known_due = written
        return self._known_due

    def wait_at_most(self, longest: float) -> float:
        """How long an idle worker may wait for a delivery: not past the next due it knows of
        (without a look: that waits for the pass, which meets an outage where it can)."""
        due = self._known()
        until = longest if due is None else (due - self.clock.now()).total_seconds()
        return max(min(longest, until), 0.0)

    def fire(self) -> int:
        """Handle (or forward) the due timers and delayed tries; returns how many."""
        due = self.expected()
        if due is None or due > self.clock.now():
            return 0
        self._known_due, self.timers.written_due, self._look_at = None, None, 0.0
        fired = self._fire_all()
        if not fired:  # another replica holds them: look again later, not on every pass
            self._look_at = time.monotonic() + self.look_every
        return fired

    def _fire_all(self) -> int:
        try:
            return self._fire(None)
        except Exception as error:
            self.failures.raise_if_outage(error, "timers")
            log.info(
                "batch of timers failed; one by one",
                worker=self.name,
                error_type=type(error).__name__,
                error=error_text(error),
            )
            return self._fire_one_by_one(error)

    def _fire_one_by_one(self, error: Exception) -> int:
        rows = self._due_rows()
        fired = 0
        for row in rows:
            attempt = functools.partial(self._fire, row.envelope.id)
            parked = self.failures.try_alone(
                _row_item(row), attempt, error if len(rows) == 1 else None
            )
            if parked:
                self._park(row.envelope.id, parked)
            else:
                fired += 1
        return fired

    def _fire(self, message_id: str | None) -> int:
        """Claim the due rows (or the one of ``message_id``), remove them and handle them, in one
        transaction."""

        def claim(session: Session) -> list[Inbound]:
            due = self.timers.claim_due(session, self.clock.now(), self.batch_size, message_id)
            self.timers.remove(session, [row.envelope.id for row in due])
            return [self._item(row) for row in due]

        return self.transaction.run([], claim)

    def _item(self, row: TimerRow) -> Inbound:
        """A due row to handle here: a delayed try, or a timer this worker handles; a timer of
        a type it does not handle is forwarded (published)."""
        contract = contract_for(row.envelope.type)
        if not row.origin and (contract is None or contract not in self.service.handlers):
            return Inbound(row.envelope, forward=True)
        return admit(self.service, row.envelope, CONTENT_TYPE, **_row_context(row))

    def _due_rows(self) -> list[TimerRow]:
        with self.database.opened() as session:
            return self.timers.claim_due(session, self.clock.now(), self.batch_size)

    def _park(self, message_id: str, parked: list[Parked]) -> None:
        with self.database.opened() as session, session.begin():
            if self.timers.claim_due(session, self.clock.now(), 1, message_id):
                self.publisher.park(parked, self.clock.now())
                self.timers.remove(session, [message_id])


def _row_item(row: TimerRow) -> Inbound:
    """A due row as far as its failures go."""
    return Inbound(row.envelope, **_row_context(row))


def _row_context(row: TimerRow) -> dict[str, Any]:
    """How often a due row was tried, whence it came, and (a timer's, not a delayed try's) when
    it came due: its critical time runs from then."""
    origin = row.origin or f"timer/{row.envelope.type}"
    since = None if row.origin else row.due_at
    return {"retries": row.retries, "attempts": row.attempts, "origin": origin, "since": since}
