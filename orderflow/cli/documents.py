"""``orderflow documents``: the warehouse's printed documents, as PDF files in a directory.

They are read from the workers' own databases (``ORDERFLOW_DATABASE_URL``), like ``order show``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from .support import console, fail, load_settings

if TYPE_CHECKING:
    from ..cluster.databases import WorkerDatabases
    from ..documents.printing import Kind

documents_app = typer.Typer(
    no_args_is_help=True, help="Print pick lists, packing slips, labels and invoices as PDF."
)

T = TypeVar("T")
OrderId = Annotated[str, typer.Argument(help="The order id intake assigned.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Directory the PDF files go to.")]
Since = Annotated[
    str | None, typer.Option(help="Orders ready from: an ISO date or date-time (UTC if no offset).")
]
Until = Annotated[
    str | None, typer.Option(help="...and before this; a date includes its whole day. [now]")
]
HERE = Path("documents")


@contextmanager
def _databases() -> Iterator[WorkerDatabases]:
    from ..cluster.databases import WorkerDatabases
    from ..documents.records import WORKERS

    dbs = WorkerDatabases(load_settings(), WORKERS)
    try:
        yield dbs
    finally:
        dbs.dispose()


def _printing(action: Callable[[WorkerDatabases], T]) -> T:
    """``action`` over the databases; a document that cannot be printed (yet) is exit 1."""
    from ..documents.fonts import FontsMissing
    from ..documents.records import NotPrintable

    try:
        with _databases() as dbs:
            return action(dbs)
    except NotPrintable as error:
        raise fail(str(error), code=1) from None
    except FontsMissing as error:
        raise fail(str(error)) from None


def _window(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    from ..operator.parking import moment

    chosen = []
    for option, text, end_of_day in (("--since", since, False), ("--until", until, True)):
        try:
            chosen.append(datetime.now(UTC) if text is None else moment(text, end_of_day))
        except ValueError:
            raise fail(f"{option}: {text!r} is not an ISO date or date-time") from None
    if chosen[0] > chosen[1]:
        raise fail(f"--since: {since} is after --until {until or 'now'}")
    return chosen[0], chosen[1]


def _order(order_id: str, kind: Kind, out: Path) -> None:
    from ..documents.printing import order_documents

    for path in _printing(lambda dbs: order_documents(dbs, order_id, kind, out)):
        console.print(f"wrote {path}")


@documents_app.command("pick-list")
def documents_pick_list(
    order_ids: Annotated[
        list[str] | None, typer.Argument(help="Orders to pick together (or use --since).")
    ] = None,
    since: Since = None,
    until: Until = None,
    out: Out = HERE,
) -> None:
    """One pick list sorted by shelf location: for the named orders, or for every order that
    became ready to pick in a time window."""
    from ..documents.printing import named_pick_list, wave_documents

    if order_ids and (since or until):
        raise fail("name orders or give --since/--until, not both")
    if order_ids:
        console.print(f"wrote {_printing(lambda dbs: named_pick_list(dbs, order_ids, out))}")
        return
    if since is None:
        raise fail("name orders, or give --since for a wave")
    start, end = _window(since, until)
    printed = _printing(lambda dbs: wave_documents(dbs, start, end, out, pick_only=True))
    if not printed.files:
        raise fail("no order became ready to pick in that window", code=1)
    console.print(f"wrote {printed.files[0]}")


@documents_app.command("slip")
def documents_slip(order_id: OrderId, out: Out = HERE) -> None:
    """A packing slip per parcel of a packed order, in the customer's language."""
    from ..documents.printing import Kind

    _order(order_id, Kind.SLIP, out)


@documents_app.command("label")
def documents_label(order_id: OrderId, out: Out = HERE) -> None:
    """A shipping label per parcel of a booked order, with its label code as a Code 128."""
    from ..documents.printing import Kind

    _order(order_id, Kind.LABEL, out)


@documents_app.command("invoice")
def documents_invoice(order_id: OrderId, out: Out = HERE) -> None:
    """The order's invoice with its tax lines, in the customer's language and locale."""
    from ..documents.printing import Kind

    _order(order_id, Kind.INVOICE, out)


@documents_app.command("wave")
def documents_wave(since: Since = None, until: Until = None, out: Out = HERE) -> None:
    """Every document of the orders that became ready in a window: the wave's pick list, then
    each order's invoice, packing slips and labels (those not packed or booked yet skipped)."""
    from ..documents.printing import wave_documents

    if since is None:
        raise fail("--since: when the wave starts")
    start, end = _window(since, until)
    printed = _printing(lambda dbs: wave_documents(dbs, start, end, out))
    for path in printed.files:
        console.print(f"wrote {path}")
    for reason in printed.skipped:
        console.print(f"[yellow]skipped[/] {reason}")
    if not printed.files:
        raise fail("no order became ready to pick in that window", code=1)
