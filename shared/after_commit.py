"""The service's after-commit work (e-mail): what talks to a third party once state is
committed (``Service.after_commit``), its announcements published once they committed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from shared import tracing
from shared.clock import Clock
from shared.contracts import Message
from shared.crash import CrashPoints
from shared.envelope import Envelope, wrap
from shared.errors import is_transient
from shared.outbox import Outbox
from shared.relay import Relay
from shared.service import Service
from shared.worker_database import WorkerDatabase

log = logging.getLogger("orderflow.worker")


@dataclass(eq=False)
class AfterCommitWork:
    service: Service
    database: WorkerDatabase
    outbox: Outbox
    relay: Relay
    crash: CrashPoints
    clock: Clock

    @property
    def name(self) -> str:
        return self.service.name

    def run(self) -> int:
        """One pass of the work; returns how much it did. Its failures wait for the next pass."""
        work, sessions = self.service.after_commit, self.database.sessions
        if work is None or sessions is None:
            return 0
        announced: list[Envelope] = []

        def announce(session: Session, messages: Sequence[Message]) -> None:
            envelopes = [
                wrap(m, source=self.name, now=self.clock.now(), trace=tracing.new_trace())
                for m in messages
            ]
            self.outbox.add(session, envelopes)
            announced.extend(envelopes)

        try:
            done = work(sessions, announce, self.crash.reach)
        except Exception as error:
            if not is_transient(error):
                log.exception("%s: after-commit work failed", self.name)
            done = 0
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
