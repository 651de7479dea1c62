"""Durable scheduled messages: timeouts, reminders, a carrier's future scans, and delayed retries.

A handler returns ``Scheduled(message, due)``; the runtime stores the envelope in the worker's own
database in the same transaction. When it is due, the worker claims it (skipping rows another
replica holds), handles it itself if its handler table names the type, or otherwise publishes
it. The envelope id is fixed when scheduled, so the inbox makes firing it exactly-once.

A message that keeps failing transiently while the database answers waits here too: its envelope
is stored under its own id, due after the next of the retry delays, with how often it was tried
(``attempts``), how many delays it has had (``retries``) and the route it first came by
(``origin``; empty for a handler's own timer). When due it is handled like a local timer.

Each row keeps the trace context of the message that set it (or of the delivery that waits), so
firing it continues that trace (``shared.tracing``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.contracts import Message
from shared.database import KeyedStatement, UtcDateTime, of_subject
from shared.envelope import Envelope
from shared.outbox import trace_columns, trace_values, traced


@dataclass(frozen=True)
class Scheduled:
    message: Message
    due: datetime


@dataclass(frozen=True)
class TimerRow:
    envelope: Envelope
    retries: int = 0
    attempts: int = 0
    origin: str = ""
    due_at: datetime | None = None


def timers_table(metadata: MetaData) -> Table:
    return Table(
        "timers",
        metadata,
        Column("message_id", String(64), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("subject", String(200), nullable=False, index=True),
        Column("due_at", UtcDateTime(), nullable=False, index=True),
        Column("body", Text, nullable=False),
        Column("retries", Integer, nullable=False, server_default="0"),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("origin", String(300), nullable=False, server_default=""),
        *trace_columns(),
    )


class Timers:
    def __init__(self, table: Table) -> None:
        self.table = table
        self._remove = KeyedStatement(table.c.message_id, lambda keys: delete(table).where(keys))
        self.written_due: datetime | None = None
        """The earliest due this process wrote since ``DueTimers`` last read the table (a
        transaction that rolled back included: that costs one look for nothing)."""

    def add(self, session: Session, timers: Sequence[tuple[Envelope, datetime]]) -> None:
        if timers:
            rows = [self._row(e, due) for e, due in timers]
            session.execute(insert(self.table), rows)
            self._wrote(min(due for _, due in timers))

    def retry_later(
        self, session: Session, envelope: Envelope, due: datetime, attempts: int, origin: str
    ) -> None:
        """Keep a delivered message for its first delayed try, unless it already waits for one
        (a duplicate of it failed first)."""
        row = {**self._row(envelope, due), "retries": 1, "attempts": attempts, "origin": origin}
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(self.table).values(row)
        session.execute(statement.on_conflict_do_nothing(index_elements=["message_id"]))
        self._wrote(due)

    def postpone(
        self, session: Session, message_id: str, due: datetime, retries: int, attempts: int
    ) -> None:
        """A timer or a delayed try failed again: it waits for its next try."""
        session.execute(
            update(self.table)
            .where(self.table.c.message_id == message_id)
            .values(due_at=due, retries=retries, attempts=attempts)
        )
        self._wrote(due)

    def _wrote(self, due: datetime) -> None:
        if self.written_due is None or due < self.written_due:
            self.written_due = due

    def claim_due(
        self, session: Session, now: datetime, limit: int, message_id: str | None = None
    ) -> list[TimerRow]:
        c = self.table.c
        columns = (c.body, c.retries, c.attempts, c.origin, c.due_at, c.traceparent, c.tracestate)
        query = select(*columns).where(c.due_at <= now)
        if message_id is not None:
            query = query.where(c.message_id == message_id)
        query = query.order_by(c.due_at).limit(limit).with_for_update(skip_locked=True)
        return [
            TimerRow(
                traced(row.body, row.traceparent, row.tracestate),
                row.retries,
                row.attempts,
                row.origin,
                row.due_at,
            )
            for row in session.execute(query)
        ]

    def remove(self, session: Session, message_ids: Sequence[str]) -> None:
        if message_ids:
            session.execute(self._remove.on(session), {"keys": list(message_ids)})

    def next_due(self, session: Session) -> datetime | None:
        due: datetime | None = session.scalar(select(func.min(self.table.c.due_at)))
        return due

    def waiting(self, session: Session, overdue_before: datetime) -> tuple[int, int]:
        """Messages waiting for a delayed try, and rows due before ``overdue_before`` (timers a
        worker should have fired by now), in one query."""
        c = self.table.c
        query = select(
            func.coalesce(func.sum(case((c.retries > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(case((c.due_at < overdue_before, 1), else_=0)), 0),
        )
        retrying, overdue = session.execute(query).one()
        return int(retrying), int(overdue)

    def pending(self, session: Session, subject: str) -> list[tuple[str, datetime]]:
        c = self.table.c
        query = select(c.type, c.due_at).where(of_subject(c.subject, subject)).order_by(c.due_at)
        return [(row.type, row.due_at) for row in session.execute(query)]

    @staticmethod
    def _row(envelope: Envelope, due: datetime) -> dict[str, object]:
        return {
            "message_id": envelope.id,
            "type": envelope.type,
            "subject": envelope.subject,
            "due_at": due,
            "body": envelope.model_dump_json(),
            **trace_values(envelope),
        }
