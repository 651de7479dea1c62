"""Crash points: a test-only hook for the fault tests, never set in production.

With ``ORDERFLOW_CRASH_AT`` naming a point of the worker's loop, the process SIGKILLs itself the
``ORDERFLOW_CRASH_AFTER``-th time (default: the first) it reaches that point, as a power cut
would: no ``finally``, no goodbye to the broker, nothing committed that was not already.

- ``after_receive``: deliveries taken from the queue, nothing done with them;
- ``before_commit``: handlers ran and the outbox rows are inserted, not committed;
- ``after_commit``: committed, not acked (nor published);
- ``after_publish``: outbox rows sent to the broker, its confirms not awaited;
- ``after_send``: (the notifier's courier) the mail server accepted an e-mail, its being sent
  not yet recorded: the one e-mail a crash sends again.
"""

from __future__ import annotations

import os
import signal
from typing import Literal

from shared.logs import get_logger

CrashPoint = Literal[
    "after_receive", "before_commit", "after_commit", "after_publish", "after_send"
]

log = get_logger("orderflow.crash")


class CrashPoints:
    def __init__(self, at: CrashPoint | None, after: int = 1) -> None:
        self.at = at
        self.after = after
        self.reached = 0

    def reach(self, point: CrashPoint) -> None:
        """Die here if this is the armed point's chosen occurrence."""
        if point != self.at:
            return
        self.reached += 1
        if self.reached == self.after:
            log.critical("crash point reached: SIGKILL", point=point, occurrence=self.reached)
            os.kill(os.getpid(), signal.SIGKILL)
