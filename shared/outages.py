"""Riding out outages of the broker and the database.

``keep_trying`` repeats a step (connect, declare, consume; open the database) with growing pauses
with full jitter, so replicas that lost the same broker do not come back in lockstep, until it
works or the worker is stopped. ``Backoff`` paces the loop's passes while the database is down.

Both pauses are capped at a few seconds (``reconnect_max_seconds`` for opening a connection, the
retry policy's ``outage_pause_max_seconds`` for the loop): an outage of any length is over for a
worker within that long of the server's return. Jitter spreads the replicas' tries over the cap,
so a large fleet does not knock all at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_when_event_set,
    wait_fixed,
    wait_random_exponential,
)

LONGEST_PAUSE = 2.0


def keep_trying(
    step: Callable[[], None],
    stop: threading.Event,
    outage: Callable[[BaseException], bool],
    on_failure: Callable[[BaseException, float], None],
    longest: float = LONGEST_PAUSE,
) -> bool:
    """Run ``step`` until it works (True) or ``stop`` is set (False); an error ``outage`` does
    not recognise is raised at once. ``on_failure`` hears of each failure and the pause after."""

    def before_sleep(state: RetryCallState) -> None:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert error is not None
        on_failure(error, state.upcoming_sleep)

    def pause(seconds: float) -> None:
        stop.wait(seconds)

    retrying = Retrying(
        retry=retry_if_exception(outage),
        wait=wait_fixed(0.1) + wait_random_exponential(multiplier=0.25, max=longest),
        stop=stop_when_event_set(stop),
        sleep=pause,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        retrying(step)
    except Exception as error:
        if stop.is_set() and outage(error):
            return False
        raise
    return True


class Backoff:
    """Pauses between passes of a loop that keeps meeting an outage: doubling, jittered."""

    def __init__(self, first: float, longest: float) -> None:
        self.first = first
        self.longest = longest
        self._next = first
        self._over: str | None = None

    def pause(self, over: str = "outage over") -> float:
        """The next pause; ``over`` is what ``reset`` says after it."""
        self._over = over
        seconds = self._next * random.uniform(0.5, 1.0)
        self._next = min(self._next * 2, self.longest)
        return seconds

    def reset(self) -> str | None:
        """Back to the first pause; if it was pausing, the words for the outage being over."""
        over, self._over, self._next = self._over, None, self.first
        return over
