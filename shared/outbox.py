"""The transactional outbox: what a worker announces is committed with its state change.

Each row keeps the trace context its message travels with (``traceparent``, ``tracestate``; see
``shared.tracing``) beside the body, so whoever publishes it sends the same.

Rows stay after publishing (``published_at`` set) so that they double as the worker's record of
what it said about each order; ``orderflow order show`` reads them as the order's timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    Column,
    Index,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from shared.database import KeyedStatement, UtcDateTime, of_subject
from shared.envelope import Envelope, kept_trace

TRACEPARENT_LENGTH = 55
"""A W3C ``traceparent`` of version 00; ``shared.tracing`` takes no longer one."""
TRACESTATE_LENGTH = 512
"""What W3C asks to pass on of a ``tracestate`` at least; ``shared.tracing`` drops a longer one."""


def trace_columns() -> list[Column[str]]:
    """Where a row of the outbox or the timer table keeps its message's trace context."""
    return [
        Column("traceparent", String(TRACEPARENT_LENGTH)),
        Column("tracestate", String(TRACESTATE_LENGTH)),
    ]


def trace_values(envelope: Envelope) -> dict[str, str | None]:
    trace = envelope.trace or {}
    return {"traceparent": trace.get("traceparent"), "tracestate": trace.get("tracestate")}


def traced(body: str, traceparent: str | None, tracestate: str | None) -> Envelope:
    """A row's envelope, travelling with the trace context kept beside it."""
    return Envelope.model_validate_json(body).travels_with(kept_trace(traceparent, tracestate))


def outbox_table(metadata: MetaData) -> Table:
    table = Table(
        "outbox",
        metadata,
        Column("message_id", String(64), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("subject", String(200), nullable=False, index=True),
        Column("body", Text, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime()),
        *trace_columns(),
    )
    Index(
        "outbox_unpublished",
        table.c.created_at,
        postgresql_where=table.c.published_at.is_(None),
        sqlite_where=table.c.published_at.is_(None),
    )
    return table


class Outbox:
    def __init__(self, table: Table) -> None:
        self.table = table
        c = table.c
        self._mark = KeyedStatement(
            c.message_id,
            lambda keys: update(table).where(keys).values(published_at=bindparam("at")),
        )
        self._present = KeyedStatement(c.message_id, lambda keys: select(c.message_id).where(keys))

    def add(self, session: Session, envelopes: Sequence[Envelope]) -> None:
        if envelopes:
            rows = [
                {
                    "message_id": e.id,
                    "type": e.type,
                    "subject": e.subject,
                    "body": e.body.decode(),
                    "created_at": e.time,
                    **trace_values(e),
                }
                for e in envelopes
            ]
            session.execute(insert(self.table), rows)

    def mark_published(self, session: Session, message_ids: Sequence[str], at: datetime) -> None:
        if message_ids:
            session.execute(self._mark.on(session), {"keys": list(message_ids), "at": at})

    def unpublished(self, session: Session, created_before: datetime, limit: int) -> list[Envelope]:
        """Rows a crash or a broker outage left behind; skips rows another replica holds."""
        c = self.table.c
        query = (
            select(c.body, c.traceparent, c.tracestate)
            .where(c.published_at.is_(None), c.created_at < created_before)
            .order_by(c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [traced(*row) for row in session.execute(query)]

    def present(self, session: Session, message_ids: Sequence[str]) -> set[str]:
        return set(session.scalars(self._present.on(session), {"keys": list(message_ids)}))

    def backlog(self, session: Session) -> int:
        c = self.table.c
        query = select(func.count()).select_from(self.table).where(c.published_at.is_(None))
        return int(session.scalar(query) or 0)

    def unconfirmed(self, session: Session) -> tuple[int, datetime | None]:
        """The backlog and the oldest row's time, in one query (the partial index serves it)."""
        c = self.table.c
        query = select(func.count(), func.min(c.created_at)).where(c.published_at.is_(None))
        count, oldest = session.execute(query).one()
        return int(count or 0), oldest

    def counts(self, session: Session, types: Sequence[str]) -> dict[tuple[str, str], int]:
        """Rows per (subject, type) for the given types: what an audit compares against."""
        c = self.table.c
        query = (
            select(c.subject, c.type, func.count())
            .where(c.type.in_(list(types)))
            .group_by(c.subject, c.type)
        )
        return {(subject, type_): int(n) for subject, type_, n in session.execute(query)}

    def about(self, session: Session, subject: str) -> list[Envelope]:
        """What was announced about ``subject`` and its sub-subjects (see ``of_subject``)."""
        query = select(self.table.c.body).where(of_subject(self.table.c.subject, subject))
        return [Envelope.model_validate_json(body) for body in session.scalars(query)]
