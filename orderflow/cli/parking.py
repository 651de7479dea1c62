"""``orderflow parking``: look at what the workers parked, replay it or purge it (audited).

Every subcommand takes the same filters; reading never removes a message (each one not acted
upon goes back to its parking lot), and ``--dry-run`` shows what a replay or purge would do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from shared.settings import Settings

from .support import console, fail, real_broker_settings

if TYPE_CHECKING:
    from ..operator.parking import Filters, Outcome, ParkedMessage

parking_app = typer.Typer(
    no_args_is_help=True,
    help="The parking lot: messages the workers could not handle. List, show, replay, purge.",
)

SHORT_REASON = 60
LONG_BODY = 4000

Workers = Annotated[
    list[str] | None,
    typer.Option(
        "--worker", "-w", help="Only this worker's lot (repeat for more); default: every worker."
    ),
]
Order = Annotated[
    str | None,
    typer.Option(help="Only messages about this order (their subject; its cases included)."),
]
Kind = Annotated[
    str | None,
    typer.Option(
        help="Only this kind: malformed, invalid, unknown_type, handler_error, "
        "retries_exhausted, forged, ... (as the x-orderflow-kind header says)."
    ),
]
Error = Annotated[
    str | None, typer.Option(help="Only failures raising this exception, e.g. PermanentError.")
]
Since = Annotated[
    str | None,
    typer.Option(
        help="Only parked at or after this ISO date or date-time (UTC unless an offset is given)."
    ),
]
Until = Annotated[
    str | None,
    typer.Option(help="Only parked at or before this ISO date (the whole day) or date-time."),
]
DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="Show what would happen and change nothing (still audited)."),
]
Ids = Annotated[
    list[str] | None,
    typer.Argument(help="Only these messages (message ids or parked-copy ids); default: all."),
]


def _filters(
    workers: list[str] | None,
    order: str | None,
    kind: str | None,
    error: str | None,
    since: str | None,
    until: str | None,
    ids: Sequence[str] | None = None,
) -> Filters:
    """The filters, each checked (exit 2 naming the option) before anything is opened."""
    from ..cluster.registry import UnknownWorker
    from ..operator.parking import Filters, chosen_workers

    try:
        names = chosen_workers(workers)
    except UnknownWorker as problem:
        raise fail(f"--worker: {problem}") from None
    start = _moment("--since", since, end_of_day=False)
    end = _moment("--until", until, end_of_day=True)
    if start is not None and end is not None and start > end:
        raise fail(f"--since: {since} is after --until {until}")
    for option, value in (("--order", order), ("--kind", kind), ("--error", error)):
        if value is not None and not value.strip():
            raise fail(f"{option}: must not be empty")
    return Filters(names, order, kind, error, start, end, tuple(ids or ()))


def _moment(option: str, text: str | None, end_of_day: bool) -> datetime | None:
    from ..operator.parking import moment

    if text is None:
        return None
    try:
        return moment(text, end_of_day)
    except ValueError:
        raise fail(
            f"{option}: {text!r} is not an ISO date or date-time, e.g. 2026-03-02 or "
            "2026-03-02T09:30 or 2026-03-02T09:30+01:00"
        ) from None


def _settings() -> Settings:
    """Settings for the parking lot: refused on memory://, which no other process shares."""
    from ..operator.parking import NO_OTHER_PROCESS_REACHES

    return real_broker_settings(NO_OTHER_PROCESS_REACHES)


# -- list and show ----------------------------------------------------------------------------


@parking_app.command("list")
def parking_list(
    worker: Workers = None,
    order: Order = None,
    kind: Kind = None,
    error: Error = None,
    since: Since = None,
    until: Until = None,
) -> None:
    """A table of the parked messages (every one stays parked)."""
    from ..operator.parking import ParkingError, list_parked

    filters = _filters(worker, order, kind, error, since, until)
    settings = _settings()
    try:
        messages = list_parked(settings, filters)
    except ParkingError as problem:
        raise fail(str(problem), code=1) from None
    if not messages:
        console.print("no parked messages")
        return
    console.print(_table(messages))
    console.print(f"{_count(messages)}; `orderflow parking show <# or message id>` for one")


@parking_app.command("show")
def parking_show(
    message: Annotated[
        str, typer.Argument(help="A message id, a parked-copy id, or a # from `list`.")
    ],
    worker: Workers = None,
    order: Order = None,
    kind: Kind = None,
    error: Error = None,
    since: Since = None,
    until: Until = None,
    full: Annotated[bool, typer.Option("--full", help="Do not shorten a long body.")] = False,
) -> None:
    """One parked message in full: headers, properties and body (a # counts as `list` does,
    with the same filters)."""
    from ..operator.parking import ParkingError, find, list_parked

    filters = _filters(worker, order, kind, error, since, until)
    settings = _settings()
    try:
        found = find(list_parked(settings, filters), message)
    except ParkingError as problem:
        raise fail(str(problem), code=1) from None
    if not found:
        raise fail(f"no parked message {message!r}; see `orderflow parking list`", code=1)
    for index, parked in enumerate(found):
        if index:
            console.print()
        _show(parked, full)


# -- replay and purge -------------------------------------------------------------------------


@parking_app.command("replay")
def parking_replay(
    ids: Ids = None,
    worker: Workers = None,
    order: Order = None,
    kind: Kind = None,
    error: Error = None,
    since: Since = None,
    until: Until = None,
    dry_run: DryRun = False,
) -> None:
    """Send the chosen messages back to the worker that parked them (and only to it), each
    re-validated against the current contracts first: one still invalid stays parked."""
    from ..operator.parking import ParkingError, audited

    filters = _filters(worker, order, kind, error, since, until, ids)
    settings = _settings()
    try:
        with audited(settings) as lot:
            chosen = lot.read(filters)
            outcomes = lot.replay(chosen, dry_run) if chosen else []
    except ParkingError as problem:
        raise fail(str(problem), code=1) from None
    if not outcomes:
        console.print("no parked messages to replay")
        return
    console.print(_outcomes(outcomes))
    done = sum(o.done for o in outcomes)
    left = len(outcomes) - done
    verb = "would replay" if dry_run else "replayed"
    console.print(f"{verb} {done} of {len(outcomes)}; {left} left parked (see the result)")
    if left and not dry_run:
        raise typer.Exit(1)


@parking_app.command("purge")
def parking_purge(
    ids: Ids = None,
    worker: Workers = None,
    order: Order = None,
    kind: Kind = None,
    error: Error = None,
    since: Since = None,
    until: Until = None,
    dry_run: DryRun = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Really remove them (not needed with --dry-run).")
    ] = False,
) -> None:
    """Remove the chosen messages from the parking lot for good, after showing them."""
    from ..operator.parking import ParkingError, audited

    filters = _filters(worker, order, kind, error, since, until, ids)
    settings = _settings()
    try:
        with audited(settings) as lot:
            chosen = lot.read(filters)
            if not chosen:
                console.print("no parked messages to purge")
                return
            console.print(_table(chosen))
            if not yes and not dry_run:
                raise fail(
                    f"--yes: purging removes {_count(chosen)} for good; add --yes "
                    "(or --dry-run to audit what would go without removing anything)"
                )
            outcomes = lot.purge(chosen, dry_run)
    except ParkingError as problem:
        raise fail(str(problem), code=1) from None
    verb = "would purge" if dry_run else "purged"
    console.print(f"{verb} {_count([o.message for o in outcomes])}")


@parking_app.command("audit")
def parking_audit(
    worker: Workers = None,
    order: Order = None,
) -> None:
    """Every replay and purge so far (dry runs included), oldest first."""
    from ..cluster.registry import UnknownWorker
    from ..operator.parking import AuditLog, chosen_workers

    try:
        names = chosen_workers(worker)
    except UnknownWorker as problem:
        raise fail(f"--worker: {problem}") from None
    log = AuditLog(_settings())
    try:
        rows = log.rows(names, order)
    finally:
        log.dispose()
    if not rows:
        console.print("no replays or purges recorded")
        return
    table = Table("at", "who", "action", "worker", "message id", "type", "order id", "result")
    for row in rows:
        action = f"{row.action} (dry run)" if row.dry_run else row.action
        table.add_row(
            f"{row.at:%Y-%m-%d %H:%M:%S}",
            row.who,
            action,
            row.worker,
            row.message_id,
            row.type,
            row.order_id,
            row.result,
        )
    console.print(table)


# -- output -----------------------------------------------------------------------------------


def _count(messages: Sequence[ParkedMessage]) -> str:
    return f"{len(messages)} parked message{'' if len(messages) == 1 else 's'}"


def _table(messages: Sequence[ParkedMessage]) -> Table:
    table = Table("#", "worker", "parked at", "kind", "type", "order id", "message id", "reason")
    for position, m in enumerate(messages, 1):
        table.add_row(
            str(position),
            m.worker,
            f"{m.parked_at:%Y-%m-%d %H:%M:%S}" if m.parked_at else "?",
            m.kind,
            m.type or "?",
            m.order_id,
            m.message_id,
            _short(m.reason, SHORT_REASON),
        )
    return table


def _outcomes(outcomes: Sequence[Outcome]) -> Table:
    table = Table("worker", "message id", "type", "order id", "kind", "result")
    for o in outcomes:
        m = o.message
        table.add_row(m.worker, m.message_id, m.type or "?", m.order_id, m.kind, o.result)
    return table


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(m: ParkedMessage, full: bool) -> None:
    def line(label: str, value: object) -> None:
        console.print(f"{label + ':':<15}{value}", markup=False, highlight=False)

    line("message id", m.message_id)
    line("parked copy", m.parking_id)
    line("worker", f"{m.worker} (queue {m.queue})")
    line("parked at", m.parked_at.isoformat() if m.parked_at else "?")
    line("kind", m.kind)
    line("exception", m.exception or "-")
    line("reason", m.reason or "-")
    line("type", m.type or "?")
    line("order id", m.order_id or "?")
    line("origin", m.origin or "?")
    line("sent to", m.route or "?")
    line("content type", m.content_type or "(none)")
    line("attempts", m.attempts if m.attempts is not None else "?")
    line("redelivered", f"{m.redelivered} (delivery count {m.delivery_count})")
    console.print("properties:", markup=False)
    console.print(_json(m.properties), markup=False, highlight=False)
    console.print("headers (the sender's and the parking's):", markup=False)
    console.print(_json(m.headers), markup=False, highlight=False)
    text = _body_text(m.body)
    console.print(f"body ({len(m.body)} bytes):", markup=False)
    if not full and len(text) > LONG_BODY:
        text = f"{text[:LONG_BODY]}\n… {len(text) - LONG_BODY} more characters (--full shows all)"
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _body_text(body: bytes) -> str:
    """The body pretty-printed when it is JSON, else as text (undecodable bytes escaped)."""
    try:
        return _json(json.loads(body))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return body.decode("utf-8", "backslashreplace")
