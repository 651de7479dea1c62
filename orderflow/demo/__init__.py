"""``orderflow demo``: the whole saga in one process, on kombu's in-memory broker and SQLite.

Orders arrive from every kind of channel, and each one tells a story (``orderflow.scenarios``):
a happy path, a declined card, a flaky gateway, a shortage, a backorder that waits for goods,
bank transfers paid in parts or never, cash on delivery, a parcel the carrier cannot deliver,
cancellations before and after dispatch, address changes, invalid orders, a duplicate
submission, returns, exchanges and a resend.

The workers run exactly as in production; only a manual clock stands in for time. The stage
plays the outside world (customers, the bank, the goods-in dock): it watches each order's state
and sends a command when its moment comes, e.g. a cancel half an hour after the payment. When
nothing is left to do, the clock jumps to the next timer or scripted moment, so a week's
payment window and a two-week complaint window pass in a blink.

``run`` sets the scene, ``script`` plays the stories, ``report`` shows what happened.
"""

from __future__ import annotations

from .run import run_demo

__all__ = ["run_demo"]
