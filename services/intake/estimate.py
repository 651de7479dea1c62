"""When a placed order should arrive, as the order confirmation promises it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from shared.contracts import DeliveryOption


@dataclass(frozen=True)
class DeliveryEstimate:
    """Calendar days from placing to delivery, per delivery option (from settings)."""

    days: Mapping[DeliveryOption, int]

    def expected(self, option: DeliveryOption, placed_on: date) -> date | None:
        """None for an option the settings give no estimate for."""
        days = self.days.get(option)
        return None if days is None else placed_on + timedelta(days=days)
