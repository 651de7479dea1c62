"""Durable scheduled messages: timeouts, reminders and a carrier's future scans.

A handler returns ``Scheduled(message, due)``; the runtime stores the envelope in the worker's own
database in the same transaction. When it is due, the worker claims it (skipping rows another
replica holds), handles it itself if its handler table names the type, or otherwise publishes
it. The envelope id is fixed when scheduled, so the inbox makes firing it exactly-once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, MetaData, String, Table, Text, delete, func, insert, select
from sqlalchemy.orm import Session

from shared.contracts import Message
from shared.database import UtcDateTime, of_subject
from shared.envelope import Envelope


@dataclass(frozen=True)
class Scheduled:
    message: Message
    due: datetime


def timers_table(metadata: MetaData) -> Table:
    return Table(
        "timers",
        metadata,
        Column("message_id", String(64), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("subject", String(200), nullable=False, index=True),
        Column("due_at", UtcDateTime(), nullable=False, index=True),
        Column("body", Text, nullable=False),
    )


class Timers:
    def __init__(self, table: Table) -> None:
        self.table = table

    def add(self, session: Session, timers: Sequence[tuple[Envelope, datetime]]) -> None:
        if timers:
            rows = [
                {
                    "message_id": e.id,
                    "type": e.type,
                    "subject": e.subject,
                    "due_at": due,
                    "body": e.model_dump_json(),
                }
                for e, due in timers
            ]
            session.execute(insert(self.table), rows)

    def claim_due(
        self, session: Session, now: datetime, limit: int, message_id: str | None = None
    ) -> list[Envelope]:
        c = self.table.c
        query = select(c.body).where(c.due_at <= now)
        if message_id is not None:
            query = query.where(c.message_id == message_id)
        query = query.order_by(c.due_at).limit(limit).with_for_update(skip_locked=True)
        return [Envelope.model_validate_json(body) for body in session.scalars(query)]

    def remove(self, session: Session, message_ids: Sequence[str]) -> None:
        if message_ids:
            session.execute(delete(self.table).where(self.table.c.message_id.in_(message_ids)))

    def next_due(self, session: Session) -> datetime | None:
        due: datetime | None = session.scalar(select(func.min(self.table.c.due_at)))
        return due

    def pending(self, session: Session, subject: str) -> list[tuple[str, datetime]]:
        c = self.table.c
        query = select(c.type, c.due_at).where(of_subject(c.subject, subject)).order_by(c.due_at)
        return [(row.type, row.due_at) for row in session.execute(query)]
