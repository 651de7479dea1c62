"""Read access to every worker's own database, for operators, audits and the demo.

An order's timeline needs no extra event store: every worker keeps what it announced (its
outbox rows), so the timeline is the union of those rows for the order in time order, plus what
is still scheduled to happen (its timers).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from shared.contracts import original_order
from shared.database import of_subject, open_database
from shared.envelope import Envelope
from shared.runtime_tables import RuntimeTables
from shared.settings import Settings

from .registry import NAMES, build


@dataclass(frozen=True)
class Entry:
    at: datetime
    worker: str
    type: str
    data: dict[str, object]


@dataclass(frozen=True)
class Pending:
    due: datetime
    worker: str
    type: str


class WorkerDatabases:
    """Each worker's database, opened once."""

    def __init__(self, settings: Settings, names: list[str] | None = None) -> None:
        self.sessions: dict[str, sessionmaker[Session]] = {}
        self.tables: dict[str, RuntimeTables] = {}
        for name in names or NAMES:
            service = build(name)
            self.tables[name] = RuntimeTables(service.metadata)
            url = settings.database_url_for(name)
            self.sessions[name] = open_database(url, service.metadata, pre_ping=True)

    def session(self, name: str) -> Session:
        return self.sessions[name]()

    def timeline(self, order_id: str) -> list[Entry]:
        entries = []
        for name, sessions in self.sessions.items():
            with sessions() as session:
                for envelope in self.tables[name].outbox.about(session, order_id):
                    entries.append(Entry(envelope.time, name, envelope.type, envelope.data))
        return sorted(entries, key=lambda e: e.at)

    def timelines(self, order_ids: Collection[str]) -> dict[str, list[Entry]]:
        """The timelines of several orders at once, with one query per worker."""
        found: dict[str, list[Entry]] = {order_id: [] for order_id in order_ids}
        for name, sessions in self.sessions.items() if found else ():
            table = self.tables[name].outbox.table
            about = or_(*(of_subject(table.c.subject, order_id) for order_id in found))
            with sessions() as session:
                for subject, body in session.execute(
                    select(table.c.subject, table.c.body).where(about)
                ):
                    envelope = Envelope.model_validate_json(body)
                    entry = Entry(envelope.time, name, envelope.type, envelope.data)
                    found[original_order(subject)].append(entry)
        return {
            order_id: sorted(entries, key=lambda e: e.at) for order_id, entries in found.items()
        }

    def pending(self, order_id: str) -> list[Pending]:
        waiting = []
        for name, sessions in self.sessions.items():
            with sessions() as session:
                for type_name, due in self.tables[name].timers.pending(session, order_id):
                    waiting.append(Pending(due, name, type_name))
        return sorted(waiting, key=lambda p: p.due)

    def dispose(self) -> None:
        for sessions in self.sessions.values():
            bind = sessions.kw.get("bind")
            if bind is not None:
                bind.dispose()
