"""The batch transaction: a batch of messages (deliveries or due timers) handled in one
database transaction, then its announcements handed to the relay.

In the transaction: the batch's ids are claimed in the inbox, which skips what was handled before;
the handlers run over one unit of work; their announcements go to the outbox, their timers to
the timer table; and rows published and confirmed since an earlier transaction are marked so.
Then it commits, and the batch is counted (``shared.batch_metrics``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from shared import metrics, tracing
from shared.batch_metrics import Handled, count_batch
from shared.clock import Clock
from shared.contracts import Message, contract_for
from shared.crash import CrashPoints
from shared.envelope import Envelope, wrap
from shared.inbound import Inbound
from shared.log_events import log_compensations
from shared.logs import get_logger, handling
from shared.relay import Relay
from shared.runtime_tables import RuntimeTables
from shared.service import Service, call
from shared.timers import Scheduled
from shared.worker_database import WorkerDatabase

Claim = Callable[[Session], list[Inbound]]
"""Takes the items to handle inside the transaction (due timer rows, claimed and removed)."""

log = get_logger("orderflow.worker")


@dataclass(eq=False)
class BatchTransaction:
    service: Service
    database: WorkerDatabase
    tables: RuntimeTables
    relay: Relay
    crash: CrashPoints
    clock: Clock

    def __post_init__(self) -> None:
        tracing.start(self.name)  # export this worker's spans, if an endpoint is set

    @property
    def name(self) -> str:
        return self.service.name

    def run(self, items: list[Inbound], claim: Claim | None = None) -> int:
        """Handle ``items`` (or what ``claim`` takes) in one transaction, then publish its
        announcements; returns how many items there were. Each item is handled in its span,
        which ends with the transaction (``shared.tracing``)."""
        with tracing.batch(self.name) as spans:
            return self._run(items, claim, spans)

    def _run(self, items: list[Inbound], claim: Claim | None, spans: tracing.Spans) -> int:
        now = self.clock.now()
        started = time.perf_counter()
        outgoing: list[Envelope] = []
        timers: list[tuple[Envelope, datetime]] = []
        handled: list[Handled] = []
        duplicates: list[str] = []
        with self.database.opened() as session, session.begin():
            marking = self.relay.mark(session, now)
            if claim is not None:
                items = claim(session)
            uow = self.service.unit_of_work(session)
            arrived = [(i.envelope.id, i.envelope.type) for i in items if not i.forward]
            fresh = self._fresh(session, arrived, now)
            uow.preload([i.message for i in items if i.message and i.envelope.id in fresh])
            for item in items:
                envelope = item.envelope
                if item.forward:
                    outgoing.append(envelope)
                    continue
                if envelope.id not in fresh:
                    duplicates.append(envelope.type)
                    continue
                fresh.discard(envelope.id)
                with spans.handling(item) as trace:
                    results = self._call(item, uow)
                for result in results:
                    if isinstance(result, Scheduled):
                        message = wrap(
                            result.message, source=self.name, cause=envelope, now=now, trace=trace
                        )
                        timers.append((message, result.due))
                    else:
                        outgoing.append(
                            wrap(result, source=self.name, cause=envelope, now=now, trace=trace)
                        )
                handled.append((envelope.type, item.since or envelope.time))
            uow.finish()
            self.tables.outbox.add(session, outgoing)
            self.tables.timers.add(session, timers)
            self.crash.reach("before_commit")
        self.crash.reach("after_commit")
        self.database.answered()
        self.relay.marked(marking)
        count_batch(self.name, handled, duplicates, outgoing, started, self.clock.now())
        log_compensations(self.name, outgoing)
        self.relay.publish(outgoing)
        return len(items)

    def _fresh(self, session: Session, arrived: list[tuple[str, str]], now: datetime) -> set[str]:
        """The ids not handled before: claimed in the inbox, or all of them for a service that
        keeps none (``Service.inbox``)."""
        if self.service.inbox:
            return self.tables.inbox.claim(session, arrived, now)
        return {message_id for message_id, _ in arrived}

    def _call(self, item: Inbound, uow: object) -> list[Message | Scheduled]:
        """The item's handler's results; what is logged meanwhile is about its message."""
        started = time.perf_counter()
        envelope = item.envelope
        with handling(self.name, envelope):
            if item.message is not None:
                handler = self.service.handlers[type(item.message)]
                results = list(call(handler, item.message, uow, envelope))
            else:
                assert item.problem is not None
                contract = contract_for(envelope.type)
                assert contract is not None
                invalid = self.service.invalid_handlers[contract]
                results = list(invalid(envelope, item.problem, uow))
            took = time.perf_counter() - started
            if log.isEnabledFor(logging.DEBUG):
                log.debug("message handled", seconds=round(took, 6), announced=len(results))
        metrics.HANDLER_SECONDS.labels(self.name, envelope.type).observe(took)
        return results
