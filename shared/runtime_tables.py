"""The runtime's own tables in a worker's database: the inbox, the outbox and the timers."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.inbox import Inbox, inbox_table
from shared.outbox import Outbox, outbox_table
from shared.timers import Timers, timers_table


class RuntimeTables:
    """The runtime's own tables, added once to a worker's metadata."""

    def __init__(self, metadata: MetaData) -> None:
        tables = metadata.tables
        self.inbox = Inbox(tables["inbox"] if "inbox" in tables else inbox_table(metadata))
        self.outbox = Outbox(tables["outbox"] if "outbox" in tables else outbox_table(metadata))
        self.timers = Timers(tables["timers"] if "timers" in tables else timers_table(metadata))
