"""The inbox: ids of messages already handled, written in the handler's own transaction.

A batch's transaction claims its messages' ids first, in one statement: the ids not there
before are inserted and returned, and only those messages are handled. A redelivered message
finds its id and has no second effect. Two replicas handling the same message at once meet at
the primary key: the second waits for the first's transaction and then finds the id taken (if
the first rolled back, the second takes it). Ids are claimed in id order, so two batches never
wait for each other crosswise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, MetaData, String, Table, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from shared.database import UtcDateTime


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
        self._claim_postgresql = text(
            f"INSERT INTO {table.name} (message_id, type, handled_at)"
            " SELECT id, type, :at"
            " FROM unnest(CAST(:ids AS varchar[]), CAST(:types AS varchar[])) AS new(id, type)"
            " ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
        )
        self._claim_sqlite = (
            sqlite.insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.message_id])
            .returning(table.c.message_id)
        )

    def claim(
        self, session: Session, messages: Sequence[tuple[str, str]], at: datetime
    ) -> set[str]:
        """Record ``messages`` (id, type) as handled at ``at`` in ``session``'s transaction;
        returns the ids that were not recorded before. One statement, and on PostgreSQL always
        the same text, whatever the batch holds."""
        claimed = dict(sorted(messages))
        if not claimed:
            return set()
        if session.get_bind().dialect.name == "postgresql":
            values = {"ids": list(claimed), "types": list(claimed.values()), "at": at}
            return set(session.scalars(self._claim_postgresql, values))
        rows = [{"message_id": i, "type": t, "handled_at": at} for i, t in claimed.items()]
        return set(session.scalars(self._claim_sqlite, rows))
