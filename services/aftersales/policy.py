"""The shop's after-sales policy: how long returns are open, and what a return is worth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class ReturnPolicy:
    return_window: timedelta = timedelta(days=14)
    """From delivery: returns, exchanges and complaints are accepted until then."""
    send_back: timedelta = timedelta(days=14)
    """From an RMA: the goods must arrive by then, or the RMA expires."""
    damaged_refund_percent: int = 50

    def refund_for(self, unit_price: int, resellable: int, damaged: int) -> int:
        """Resellable units are refunded at their price, damaged ones at the set percentage."""
        return unit_price * resellable + unit_price * damaged * self.damaged_refund_percent // 100
