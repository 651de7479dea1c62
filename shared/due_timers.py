"""Due timers: the worker's own scheduled messages (deadlines, reminders) and delayed tries,
handled (or forwarded) in the transaction that claims them.

If a batch of them fails, each is tried on its own as a delivery would be: retried in process,
then given a delayed try or parked and removed, so none blocks those behind it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
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

    @property
    def name(self) -> str:
        return self.service.name

    def next_due(self) -> datetime | None:
        with self.database.opened() as session:
            due = self.timers.next_due(session)
        self.database.answered()
        return due

    def fire(self) -> int:
        """Handle (or forward) the due timers and delayed tries; returns how many."""
        due = self.next_due()
        if due is None or due > self.clock.now():
            return 0
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
