"""Several workers in one process: threads for ``orderflow run``, a single-threaded pump for
the demo and tests.

The pump polls every worker in turn until a whole round finds nothing to do. With a
``ManualClock`` it can then jump the clock to the next due timer, so days of carrier delays and
complaint windows pass in milliseconds, deterministically.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from pydantic_settings import BaseSettings

from shared.clock import Clock, ManualClock, SystemClock
from shared.logs import bound_worker
from shared.settings import Settings
from shared.worker import Worker

from .registry import NAMES, build
from .users import senders


class Cluster:
    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        names: Iterable[str] = NAMES,
        worker_settings: Mapping[str, BaseSettings] | None = None,
        strict: bool = False,
    ) -> None:
        """``worker_settings`` gives some workers their own settings (by worker name) instead
        of what their bootstraps would read from the environment. ``strict`` raises a handler's
        first permanent error out of ``step``/``pump``, with its traceback, instead of parking
        the message: a test then fails where the handler did."""
        self.clock = clock or SystemClock()
        self.settings = settings
        own = worker_settings or {}
        who_sends = senders(settings)
        self.workers = {
            name: Worker(build(name, self.clock, own.get(name)), settings, self.clock, who_sends)
            for name in names
        }
        for worker in self.workers.values():
            worker.failures.raise_permanent_errors = strict

    def __getitem__(self, name: str) -> Worker:
        return self.workers[name]

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()

    def step(self) -> int:
        """One round: every worker handles what it has; returns messages and timers handled."""
        done = 0
        for name, w in self.workers.items():
            with bound_worker(name):
                done += w.poll(0) + w.fire_timers() + w.run_after_commit()
        return done

    def pump(self, max_rounds: int = 10_000) -> int:
        """Poll round-robin until a round handles nothing, then mark what every worker has
        published (an idle worker of its own waits a moment first); returns messages handled."""
        total = 0
        for _ in range(max_rounds):
            done = self.step()
            total += done
            if not done:
                for worker in self.workers.values():
                    worker.relay.flush_marks()
                return total
        raise RuntimeError(f"still busy after {max_rounds} rounds")

    def pump_until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll round-robin until ``condition`` holds; ``RuntimeError`` if the workers run out
        of work first."""
        while not condition():
            if not self.step() and not condition():
                raise RuntimeError(f"the workers have nothing left to do, and not: {what}")

    def next_timer(self) -> datetime | None:
        due = [d for d in (w.next_timer_due() for w in self.workers.values()) if d is not None]
        return min(due, default=None)

    def settle(self, max_jumps: int = 1_000) -> None:
        """Pump, then jump a manual clock to each next timer until nothing is left to do."""
        assert isinstance(self.clock, ManualClock), "settle() needs a ManualClock"
        for _ in range(max_jumps):
            self.pump()
            due = self.next_timer()
            if due is None:
                return
            self.clock.advance(max(due - self.clock.now(), timedelta(0)))
        raise RuntimeError(f"timers still due after {max_jumps} jumps")

    def run_threads(self, stop: threading.Event) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=w.run, args=(stop,), name=f"worker-{n}", daemon=True)
            for n, w in self.workers.items()
        ]
        for thread in threads:
            thread.start()
        return threads
