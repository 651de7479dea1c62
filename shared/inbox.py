"""The inbox: ids of messages already handled, written in the handler's own transaction.

A redelivered message finds its id here and has no second effect; two replicas racing on
the same message meet at the primary key and one of them rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.orm import Session

from shared.database import KeyedStatement, UtcDateTime


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("message_id", String(64), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("handled_at", UtcDateTime(), nullable=False),
    )


class Inbox:
    def __init__(self, table: Table) -> None:
        self.table = table
        column = table.c.message_id
        self._seen = KeyedStatement(column, lambda keys: select(column).where(keys))

    def seen(self, session: Session, message_ids: Iterable[str]) -> set[str]:
        ids = list(message_ids)
        if not ids:
            return set()
        return set(session.scalars(self._seen.on(session), {"keys": ids}))

    def record(self, session: Session, handled: list[tuple[str, str]], at: datetime) -> None:
        if handled:
            rows = [{"message_id": i, "type": t, "handled_at": at} for i, t in handled]
            session.execute(insert(self.table), rows)
