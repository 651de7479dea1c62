"""``orderflow report``: managers' reports from reporting's read model, and its rebuild."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from shared.contracts import Channel

from .support import console, fail, load_settings

report_app = typer.Typer(help="Reports on orders, from reporting's read model.")


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


@report_app.callback(invoke_without_command=True)
def report(
    context: typer.Context,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First day (UTC); default: --days before --until."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Day after the last (UTC); default: tomorrow."),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="The period's length without --since.")] = 30,
    channel: Annotated[Channel | None, typer.Option(help="Only this sales channel.")] = None,
    output: Annotated[Format, typer.Option("--format", help="table, json or csv.")] = Format.TABLE,
    page: Annotated[
        Path | None, typer.Option("--html", help="Also write one self-contained HTML page here.")
    ] = None,
) -> None:
    """Orders placed in a period: revenue, mix, lead times, on-time rates, cancels, returns,
    backorders, unpaid expiries, refused submissions, top SKUs and a daily trend; and the
    messages parked in it, read from the broker's parking lots (each one left where it was)."""
    if context.invoked_subcommand is not None:
        return
    from ..reports.figures import Period, compute_from
    from ..reports.render import as_csv, as_json, show

    end = _day(until) if until else _day(datetime.now(UTC)) + timedelta(days=1)
    start = _day(since) if since else end - timedelta(days=days)
    if start >= end:
        raise fail("--since: must be before --until")
    figures = compute_from(load_settings(), Period(start, end, channel and channel.value))
    if output == Format.JSON:
        typer.echo(json.dumps(as_json(figures), indent=2))
    elif output == Format.CSV:
        typer.echo(as_csv(figures), nl=False)
    else:
        show(console, figures)
    if page is not None:
        from ..reports.page import html

        page.write_text(html(figures), encoding="utf-8")
        typer.echo(f"wrote {page}", err=True)


def _day(at: datetime) -> datetime:
    """Midnight UTC of ``at``'s day."""
    return datetime.combine(at.date(), time(0), tzinfo=UTC)


@report_app.command("rebuild")
def report_rebuild() -> None:
    """Empty reporting's read model and replay every event of the history (the workers'
    outboxes) into it; the live worker may go on meanwhile."""
    from ..operator.rebuild import rebuild

    rebuilt = rebuild(load_settings())
    console.print(
        f"rebuilt from the outboxes: {rebuilt.events} events replayed, "
        f"{rebuilt.orders} orders in the read model"
    )
    for reason, count in rebuilt.skipped.most_common():
        console.print(f"  skipped {count}: {reason}")
