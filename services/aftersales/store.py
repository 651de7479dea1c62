"""All of after-sales' SQL."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.handlers import UnitOfWork

from .model import ReturnWindow


class AftersalesUnitOfWork(UnitOfWork):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.return_windows = ReturnWindowStore(session)


class ReturnWindowStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def for_order(self, order_id: str) -> ReturnWindow | None:
        return self.session.get(ReturnWindow, order_id, with_for_update=True)

    def add(self, window: ReturnWindow) -> None:
        self.session.add(window)
