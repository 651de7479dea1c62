"""The runtime's own tables grow with the runtime: a worker started on a database from an older
version adds the columns it lacks, and the rows already there keep their meaning."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, create_engine, insert

from shared.database import open_database
from shared.envelope import wrap
from shared.runtime_tables import RuntimeTables
from tests.factories import order_placed


def test_a_timer_table_from_before_delayed_tries_gets_their_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    old = MetaData()
    timers = Table(
        "timers",
        old,
        Column("message_id", String(64), primary_key=True),
        Column("type", String(100)),
        Column("subject", String(200)),
        Column("due_at", DateTime(timezone=True)),
        Column("body", Text),
    )
    envelope = wrap(order_placed("ord-old"), source="intake")
    due = datetime(2026, 1, 1, tzinfo=UTC)
    engine = create_engine(url)
    old.create_all(engine)
    with engine.begin() as connection:
        row = {"message_id": envelope.id, "type": envelope.type, "subject": "ord-old"}
        body = envelope.model_dump_json()
        connection.execute(insert(timers), [{**row, "due_at": due, "body": body}])
    engine.dispose()

    metadata = MetaData()
    tables = RuntimeTables(metadata)
    sessions = open_database(url, metadata)

    with sessions() as session:
        [timer] = tables.timers.claim_due(session, due, 10)
    assert timer.envelope.id == envelope.id
    assert (timer.retries, timer.attempts, timer.origin) == (0, 0, "")
