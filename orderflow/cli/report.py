"""``orderflow report``: managers' reports from reporting's read model, and its rebuild."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from .support import console, fail, load_settings

report_app = typer.Typer(no_args_is_help=True, help="Reports on orders, from reporting.")


class HistorySource(StrEnum):
    STREAM = "stream"
    OUTBOXES = "outboxes"


@report_app.command("rebuild")
def report_rebuild(
    source: Annotated[
        HistorySource | None,
        typer.Option(
            "--from",
            help="Where the history is read: RabbitMQ's history stream, or the workers' outboxes "
            "(the default on the in-memory broker, which has no streams).",
        ),
    ] = None,
) -> None:
    """Empty reporting's read model and replay every event of the history into it; the live
    worker may go on meanwhile."""
    from ..operator.rebuild import HistoryUnreadable, rebuild

    try:
        rebuilt = rebuild(load_settings(), source.value if source else None)
    except HistoryUnreadable as error:
        raise fail(f"history: {error}") from None
    console.print(
        f"rebuilt from the {rebuilt.source}: {rebuilt.events} events replayed, "
        f"{rebuilt.orders} orders in the read model"
    )
    for reason, count in rebuilt.skipped.most_common():
        console.print(f"  skipped {count}: {reason}")
