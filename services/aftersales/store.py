"""All of after-sales' SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from shared.contracts import Message, ShipmentDelivered
from shared.handlers import UnitOfWork
from shared.rows import locked_rows

from .model import ReturnWindow


class AftersalesUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.return_windows = ReturnWindowStore(session)

    def preload(self, messages: Sequence[Message]) -> None:
        """Lock the batch's return windows with one query, in order-id order."""
        delivered = [m.order_id for m in messages if isinstance(m, ShipmentDelivered)]
        self.rows.lock(ReturnWindow.order_id, delivered)


class ReturnWindowStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows = locked_rows(session)

    def for_order(self, order_id: str) -> ReturnWindow | None:
        return self.rows.get(ReturnWindow, order_id)

    def add(self, window: ReturnWindow) -> None:
        self.rows.add(window)
