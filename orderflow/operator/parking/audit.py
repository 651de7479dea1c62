"""``parking_audit``: a row per replayed or purged message (dry runs included), in the
database of the worker whose lot it was."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from shared.database import UtcDateTime, make_engine, of_subject
from shared.settings import Settings

from .messages import ParkedMessage


@dataclass(frozen=True)
class Outcome:
    """What a replay or purge did to one message."""

    message: ParkedMessage
    action: str
    """``replay`` or ``purge``."""
    done: bool
    """Replayed or purged (in a dry run: would be)."""
    result: str
    dry_run: bool


def operator() -> str:
    """Who acts: the OS user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or f"uid:{os.getuid()}"


# -- the audit --------------------------------------------------------------------------------

audit_metadata = MetaData()

parking_audit = Table(
    "parking_audit",
    audit_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False, index=True),
    Column("who", String(100), nullable=False),
    Column("action", String(20), nullable=False),
    Column("worker", String(50), nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("parking_id", String(200), nullable=False),
    Column("type", String(100), nullable=False),
    Column("order_id", String(200), nullable=False, index=True),
    Column("kind", String(50), nullable=False),
    Column("reason", Text, nullable=False),
    Column("result", Text, nullable=False),
    Column("dry_run", Boolean, nullable=False),
)


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    who: str
    action: str
    worker: str
    message_id: str
    parking_id: str
    type: str
    order_id: str
    kind: str
    reason: str
    result: str
    dry_run: bool


class AuditLog:
    """``parking_audit`` in each worker's own database (created if missing)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engines: dict[str, Engine] = {}

    def engine_for(self, worker: str) -> Engine:
        url = self.settings.database_url_for(worker)
        if url not in self._engines:
            engine = make_engine(url)
            audit_metadata.create_all(engine)
            self._engines[url] = engine
        return self._engines[url]

    def record(self, outcomes: Iterable[Outcome], who: str, at: datetime) -> None:
        by_worker: dict[str, list[dict[str, object]]] = {}
        for o in outcomes:
            m = o.message
            by_worker.setdefault(m.worker, []).append(
                {
                    "at": at,
                    "who": who[:100],
                    "action": o.action,
                    "worker": m.worker,
                    "message_id": m.message_id[:200],
                    "parking_id": m.parking_id[:200],
                    "type": m.type[:100],
                    "order_id": m.order_id[:200],
                    "kind": m.kind[:50],
                    "reason": m.reason,
                    "result": o.result,
                    "dry_run": o.dry_run,
                }
            )
        for worker, rows in by_worker.items():
            with self.engine_for(worker).begin() as connection:
                connection.execute(insert(parking_audit), rows)

    def rows(self, workers: Iterable[str], order: str | None = None) -> list[AuditRow]:
        """The audit of ``workers``' lots, oldest first (a database shared by several workers
        is read once)."""
        chosen = list(workers)
        urls = {self.settings.database_url_for(w) for w in chosen}
        found: list[AuditRow] = []
        for url in urls:
            users = [w for w in chosen if self.settings.database_url_for(w) == url]
            query = select(parking_audit).where(parking_audit.c.worker.in_(users))
            if order is not None:
                query = query.where(of_subject(parking_audit.c.order_id, order))
            with self.engine_for(users[0]).connect() as connection:
                for row in connection.execute(query.order_by(parking_audit.c.id)):
                    values = row._asdict()
                    values.pop("id")
                    found.append(AuditRow(**values))
        return sorted(found, key=lambda r: r.at)

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
