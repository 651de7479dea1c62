"""``orderflow stock count FILE.csv``: send a physical count to stock, which reconciles it
with its books in its own transaction, and print the discrepancies it found
(``orderflow.operator.counts``)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from shared.contracts import StockCounted

from .support import console, errors, fail, sending_settings, valid


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def stock_count(
    file: Annotated[Path, typer.Argument(help="The count, as CSV (see above).")],
    count_id: Annotated[
        str | None,
        typer.Option(help="The count's id; sending the same id again changes nothing."),
    ] = None,
    output: Annotated[
        Format, typer.Option("--format", help="A table for people, or JSON for tools.")
    ] = Format.TABLE,
    counted_at: Annotated[
        str | None,
        typer.Option(
            help="When the shelves were counted, with the UTC offset, e.g. "
            "2026-12-01T09:30:00+01:00, for rows without a counted_at of their own. "
            "Default: now."
        ),
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for stock's report.")] = 30,
) -> None:
    """Reconcile a physical count with stock's books: each SKU's shelf becomes what was
    counted; the differences are posted as found, lost or damaged, and printed.

    Count the shelf only: units packed into parcels that have not been dispatched are on the
    books but off the shelf, and stock leaves them out (the report's "in parcels" column).
    Work may go on while you count: say when each shelf was counted (a counted_at column, or
    --counted-at for the whole file) and stock compares it with the books as they stood then,
    so what was packed, dispatched or received since does not show as a difference.

    FILE is CSV, UTF-8, comma-separated, with a header row naming its columns:
      sku       required, e.g. MUG-BLUE
      counted   required: sellable units on the shelf, a whole number, 0 or more
      location  optional: the bin it was counted in, which becomes its location
      reason    optional: why units are missing, lost (the default) or damaged
      counted_at  optional: when the shelf was counted, with the UTC offset
    One row per SKU, e.g.:
      sku,counted,location,reason,counted_at
      MUG-BLUE,12,A-01-02,,2026-12-01T09:30:00+01:00
      TEA-GREEN,3,,damaged,2026-12-01T09:42:00+01:00

    A bad row stops the whole count and is named with its line, column and problem.

    Where the shelf holds less than open orders reserved, the newest of those orders lose their
    reservation and are cancelled as out of stock (refunded if paid); packed orders keep theirs.
    """
    from shared.contracts import StockCount

    from ..cluster.databases import WorkerDatabases
    from ..operator.counts import CountFileError, applied, dated, read_count, unknown_skus
    from .commands import await_answer, now, send

    started = now()
    moment = _moment(counted_at, started)
    try:
        rows = read_count(file)
        lines = dated(rows, moment, started)
    except CountFileError as error:
        raise fail(f"{file}: " + "; ".join(error.problems)) from None
    settings = sending_settings()
    count_id = count_id or f"cnt_{uuid.uuid4().hex[:16]}"
    dbs = WorkerDatabases(settings, ["stock"])
    try:
        unknown = unknown_skus(dbs, rows)
        if unknown:
            raise fail(f"{file}: " + "; ".join(unknown))
        report = applied(dbs, count_id)
        if report is not None:
            _note(output, f"count {count_id} was applied already; its report:")
        else:
            command = valid(StockCount, count_id=count_id, lines=lines)
            envelope = send(settings, command)
            _note(output, f"sent stock.count for count:{count_id} (message {envelope.id})")
            if not wait:
                return
            answer = await_answer(dbs, envelope.subject, ["stock.counted"], started, wait)
            if answer is None:
                raise fail(f"no report from stock within {wait:g}s; is the stock worker up?", 1)
            report = StockCounted.model_validate(answer.data)
    finally:
        dbs.dispose()
    _print(report, output)


def _moment(counted_at: str | None, now: datetime) -> datetime:
    """``--counted-at`` as a time, or now; a clear error for a time without its offset or one to
    come."""
    if counted_at is None:
        return now
    try:
        moment = datetime.fromisoformat(counted_at)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise fail(
            f"--counted-at: {counted_at!r} is not a date and time with its UTC offset, e.g. "
            "2026-12-01T09:30:00+01:00"
        )
    if moment > now:
        raise fail(f"--counted-at: {counted_at} is in the future; count first, then send")
    return moment


def _note(output: Format, text: str) -> None:
    """Progress for people; on stderr when stdout is JSON for a tool."""
    (errors if output is Format.JSON else console).print(text)


def _print(report: StockCounted, output: Format) -> None:
    from ..operator.counts import show_report

    if output is Format.JSON:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        show_report(console, report)
