"""The service's after-commit work (e-mail): what talks to a third party once state is
committed (``Service.after_commit``), its announcements published once they committed.

While the third party cannot be reached (the work raises ``Unavailable``), the worker is
unready with the work's reason on ``/readyz``, and the work is tried again after a pause that
doubles up to ``after_commit_pause_max_seconds``; the outage is logged once when it starts and
once when it ends, not on every try."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from shared import tracing
from shared.clock import Clock
from shared.contracts import Message
from shared.crash import CrashPoints
from shared.envelope import Envelope, TraceContext, wrap
from shared.errors import Unavailable, is_transient
from shared.health import Health
from shared.logs import get_logger
from shared.outages import Backoff
from shared.outbox import Outbox
from shared.relay import Relay
from shared.service import Service
from shared.worker_database import WorkerDatabase

log = get_logger("orderflow.worker")


@dataclass(eq=False)
class ThirdPartyOutage:
    """One outage of the after-commit work's third party: when it began, when to try next."""

    worker: str
    health: Health
    pauses: Backoff
    began: float | None = None
    next_try: float = field(default=0.0)

    def waiting(self) -> bool:
        return self.began is not None and time.monotonic() < self.next_try

    def failed(self, reason: str) -> None:
        now = time.monotonic()
        if self.began is None:
            self.began = now
            log.warning(
                "after-commit work unavailable; unready, trying again with backoff",
                worker=self.worker,
                error=reason,
                longest_pause_seconds=self.pauses.longest,
            )
        self.health.after_commit(reason)
        self.next_try = now + self.pauses.pause()

    def got_through(self) -> None:
        if self.began is None:
            return
        lasted = time.monotonic() - self.began
        log.warning("after-commit work back", worker=self.worker, down_seconds=round(lasted, 1))
        self.began = None
        self.pauses.reset()
        self.health.after_commit(None)


@dataclass(eq=False)
class AfterCommitWork:
    service: Service
    database: WorkerDatabase
    outbox: Outbox
    relay: Relay
    crash: CrashPoints
    clock: Clock
    outage: ThirdPartyOutage

    @property
    def name(self) -> str:
        return self.service.name

    def run(self) -> int:
        """One pass of the work; returns how much it did. Its failures wait for the next pass;
        in an outage of its third party, passes before the next try do nothing."""
        work, sessions = self.service.after_commit, self.database.sessions
        if work is None or sessions is None or self.outage.waiting():
            return 0
        announced: list[Envelope] = []

        def announce(
            session: Session,
            messages: Sequence[Message],
            traces: Sequence[TraceContext | None] = (),
        ) -> None:
            continued = [*traces, *[None] * (len(messages) - len(traces))]
            envelopes = [
                wrap(m, source=self.name, now=self.clock.now(), trace=t or tracing.new_trace())
                for m, t in zip(messages, continued, strict=True)
            ]
            self.outbox.add(session, envelopes)
            announced.extend(envelopes)

        try:
            done = work(sessions, announce, self.crash.reach)
        except Unavailable as trouble:
            self.outage.failed(str(trouble))
            done = 0
        except Exception as error:
            if not is_transient(error):
                log.exception("after-commit work failed", worker=self.name)
            done = 0
        else:
            self.outage.got_through()
        self.relay.publish_committed(announced)
        return done

    def keeping_pace(self, handled: int, stop: threading.Event) -> bool:
        """Run the work until it has done as much as was just ``handled``, or finds nothing
        left: so it keeps pace with the messages that give it work instead of falling a batch
        behind on every pass. True if it may have more to do."""
        done = 0
        while (did := self.run()) > 0:
            done += did
            if done >= handled or stop.is_set():
                return True
        return False
