"""What the runtime does when handling fails: tells an outage from a bad message, retries in
process, gives a delayed try, parks. The settings are one block: ``RetryPolicy``.

- A failing batch is tried again one message at a time, so one bad message cannot hold the
  others back; a permanent error parks the message (``ParkKind.HANDLER_ERROR``).
- A transient error is retried in process with backoff (``handler_attempts``). If it persists, a
  cheap query asks whether the database answers at all. If not, it is an outage
  (``DatabaseDown``): nothing is acked and the loop backs off until it answers. If it does, it
  is this message that keeps failing: it waits in the timer table for a delayed try after each of
  ``retry_delays_seconds`` in turn and is parked after the last (``RETRIES_EXHAUSTED``).

Every in-process try again after a transient error (a gateway's timeout, a deadlock) counts in
``orderflow_retries_total`` by the error's class; each of a message's is a log line too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from shared import metrics, tracing
from shared.clock import Clock
from shared.errors import is_transient
from shared.inbound import Inbound, Parked, ParkKind
from shared.log_events import error_text
from shared.logs import get_logger, handling
from shared.messaging import LinkDown, PublishNotConfirmed
from shared.settings import RetryPolicy
from shared.timers import Timers
from shared.worker_database import WorkerDatabase

log = get_logger("orderflow.worker")


class DatabaseDown(Exception):
    """The database does not answer: nothing is acked and the loop backs off."""


def is_outage(error: BaseException) -> bool:
    """Trouble that passes on its own: the broker link, the database, a transient error."""
    return isinstance(error, LinkDown | PublishNotConfirmed | DatabaseDown) or is_transient(error)


@dataclass(eq=False)
class Failures:
    name: str
    policy: RetryPolicy
    database: WorkerDatabase
    timers: Timers
    clock: Clock
    raise_permanent_errors: bool = False
    """Raise a handler's permanent error instead of parking its message: the embedded cluster's
    strict mode, so that a test fails inside the failing handler, with its traceback."""

    def raise_if_outage(self, error: Exception, what: str) -> None:
        """Raise ``DatabaseDown`` if ``error`` is transient and the database does not answer."""
        if is_transient(error) and not self.database.answers():
            raise DatabaseDown(f"{what}: {error_text(error)}") from error

    def one_by_one_if_failing(
        self, items: Sequence[Inbound], attempt: Callable[[list[Inbound]], object]
    ) -> list[Parked]:
        """Make ``attempt`` at ``items`` together; if that fails, at each alone (``try_alone``).
        Returns what to park."""
        if not items:
            return []
        try:
            attempt(list(items))
            return []
        except Exception as error:
            self.raise_if_outage(error, f"a batch of {len(items)} failed")
            if len(items) > 1 and is_transient(error):
                self._retried(error)
            if len(items) == 1:
                return self.try_alone(items[0], functools.partial(attempt, [items[0]]), error)
            log.info(
                "batch failed; one by one",
                worker=self.name,
                messages=len(items),
                error_type=type(error).__name__,
                error=error_text(error),
            )
        alone = [self.try_alone(item, functools.partial(attempt, [item])) for item in items]
        return [parked for item_parked in alone for parked in item_parked]

    def try_alone(
        self, item: Inbound, attempt: Callable[[], object], error: Exception | None = None
    ) -> list[Parked]:
        """Make ``attempt`` at ``item`` on its own, ``handler_attempts`` times in all (with
        ``error``, the first failed already: in a batch of one), retrying transient errors with
        backoff; then see ``_failed``. Its log lines are about ``item``."""
        with handling(self.name, item.envelope), tracing.resumed(item.envelope.trace):
            return self._try_alone(item, attempt, error)

    def _try_alone(
        self, item: Inbound, attempt: Callable[[], object], error: Exception | None
    ) -> list[Parked]:
        attempts = self.policy.handler_attempts
        tries = 0 if error is None else 1
        try:
            if error is not None and (not is_transient(error) or tries >= attempts):
                raise error
            if error is not None:
                self._retried(error)
                _retry_line(error, 1, 0.0)
            for retry in self._retrying(attempts - tries):
                with retry:
                    tries += 1
                    attempt()
            return []
        except Exception as failure:
            return self._failed(item, failure, item.attempts + tries)

    def _retrying(self, attempts: int) -> Retrying:
        pause = self.policy.handler_backoff_seconds
        return Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(
                multiplier=pause, max=self.policy.handler_backoff_max_seconds, jitter=pause
            ),
            retry=retry_if_exception(is_transient),
            before_sleep=self._retrying_again,
            reraise=True,
        )

    def _retrying_again(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        self._retried(error if isinstance(error, BaseException) else None)
        _retry_line(error, state.attempt_number, state.upcoming_sleep)

    def _retried(self, error: BaseException | None) -> None:
        """A transient ``error`` is tried again in process: counted by its class."""
        metrics.RETRIES.labels(self.name, type(error).__name__).inc()

    def _failed(self, item: Inbound, failure: Exception, attempts: int) -> list[Parked]:
        """A message that failed on its own: parked if the error is permanent; if it is
        transient, the loop backs off while the database is down, else the message gets a
        delayed try while ``retry_delays_seconds`` last, and is parked after the last (at once
        if the timer table cannot keep it as it came)."""
        if not is_transient(failure):
            if self.raise_permanent_errors:
                raise failure
            return [self._parked(item, failure, attempts, ParkKind.HANDLER_ERROR)]
        if not self.database.answers():
            raise DatabaseDown(
                f"{item.envelope.type} {item.envelope.id}: {error_text(failure)}"
            ) from failure
        delays = self.policy.retry_delays_seconds
        if item.retries >= len(delays) or not item.waits_as_it_came:
            return [self._parked(item, failure, attempts, ParkKind.RETRIES_EXHAUSTED)]
        self._retry_later(item, attempts, timedelta(seconds=delays[item.retries]))
        log.warning(
            "message retried later",
            attempts=attempts,
            delay_seconds=delays[item.retries],
            error_type=type(failure).__name__,
            error=error_text(failure),
        )
        return []

    def _retry_later(self, item: Inbound, attempts: int, delay: timedelta) -> None:
        """Keep ``item`` in the timer table for a delayed try (a delivery gets a row of its own,
        a timer's or an earlier delayed try's row waits again)."""
        due = self.clock.now() + delay
        with self.database.opened() as session, session.begin():
            if item.delivery is None:
                self.timers.postpone(session, item.envelope.id, due, item.retries + 1, attempts)
            else:
                self.timers.retry_later(session, item.envelope, due, attempts, item.origin)
        metrics.REDELIVERIES.labels(self.name, item.envelope.type).inc()

    def _parked(self, item: Inbound, failure: Exception, attempts: int, kind: ParkKind) -> Parked:
        envelope = item.envelope
        error, reason = type(failure).__name__, error_text(failure)
        log.error(
            "handling failed",
            kind=kind.value,
            attempts=attempts,
            error_type=error,
            error=reason,
            exc_info=failure if kind is ParkKind.HANDLER_ERROR else None,
        )
        metrics.MESSAGES.labels(self.name, envelope.type, "failed").inc()
        return Parked(item.body, reason, kind, item.origin, error, attempts, item.sent)


def _retry_line(error: BaseException | None, attempt: int, delay: float) -> None:
    """A line for each in-process retry of a message's transient error (inside ``handling``):
    ``attempt`` tries failed, the next after ``delay`` seconds."""
    log.info(
        "retrying in process",
        attempt=attempt,
        delay_seconds=round(delay, 3),
        error_type=type(error).__name__,
        error=error_text(error) if error else "",
    )
