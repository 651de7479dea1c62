"""What the demo shows when it is over: every order's final state and timeline, what each
story shows and whether it ended as it says, the invariants, and the e-mails by language."""

from __future__ import annotations

import mailbox
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shared.contracts import original_order
from shared.settings import Settings

from ..cluster.databases import Entry, WorkerDatabases
from ..operator.audit import audit
from ..operator.views import money, when
from ..scenarios.story import Story, departures, orders_by_key

STEP_LABELS = {
    "order.placed": "placed",
    "order.rejected": "rejected",
    "order.held": "held for review",
    "order.approved": "approved",
    "replacement.requested": "sent again",
    "stock.reserved": "reserved",
    "stock.backordered": "backordered",
    "stock.unavailable": "short",
    "payment.pending": "awaiting payment",
    "payment.reminder": "reminder",
    "payment.deferred": "pay on delivery",
    "payment.captured": "paid",
    "payment.failed": "declined",
    "payment.expired": "expired",
    "shipment.address_changed": "address changed",
    "shipment.address_change_refused": "address change refused",
    "fulfillment.cancelled": "cancel accepted",
    "fulfillment.cancel_refused": "cancel refused",
    "fulfillment.packed": "packed",
    "shipment.dispatched": "shipped",
    "shipment.in_transit": "in transit",
    "shipment.delivery_failed": "delivery failed",
    "shipment.returned": "returned to sender",
    "shipment.delivered": "delivered",
    "aftersales.request_refused": "request refused",
    "return.authorized": "RMA",
    "return.expired": "RMA expired",
    "return.received": "goods back",
    "order.cancelled": "cancelled",
    "stock.released": "released",
    "stock.restocked": "restocked",
    "payment.voided": "voided",
    "payment.refunded": "refunded",
    "order.completed": "completed",
}
"""What the table calls each announcement, in the order of an order's life: steps announced at
the same (virtual) moment are shown in this order."""


def show(
    console: Console,
    dbs: WorkerDatabases,
    stories: Sequence[Story],
    extras: Sequence[Story],
    missed: Sequence[str],
) -> None:
    by_key = orders_by_key(dbs)
    table = Table(title="Orders (times are virtual, since each order was placed)")
    table.add_column("order", overflow="fold", min_width=20)
    table.add_column("total", no_wrap=True, justify="right")
    table.add_column("final state", overflow="fold", max_width=18)
    table.add_column("timeline", overflow="fold")
    for story in [*stories, *extras]:
        o = by_key[story.key]
        state = o.status + (f": {o.cancel_reason}" if o.cancel_reason else "")
        if o.status == "rejected":
            state += ": " + ", ".join(problem.field for problem in o.problems)
        colours = {
            "completed": "green",
            "returned": "cyan",
            "cancelled": "yellow",
            "rejected": "red",
        }
        colour = colours.get(o.status, "")
        table.add_row(
            f"{o.channel}:{o.external_id}\n[dim]{o.id}[/]",
            money(o.total, o.currency or "EUR") if o.total else "-",
            f"[{colour}]{state}[/]" if colour else state,
            _story(dbs.timeline(o.id)),
        )
    console.print(table)
    stories_table = Table.grid(padding=(0, 2))
    stories_table.add_column(no_wrap=True)
    stories_table.add_column()
    for story in stories:
        stories_table.add_row(story.name, story.says)
    if extras:
        first, last = extras[0].key[1], extras[-1].key[1]
        span = first if first == last else f"{first}…{last}"
        stories_table.add_row(span, "more happy paths, from random channels and languages")
    console.print("[bold]What each order shows[/]")
    console.print(stories_table)
    for move in missed:
        console.print(f"  [red]the script never found the moment for: {move}[/]")
    wrong = departures(dbs, [*stories, *extras])
    verdict = "[green]yes[/]" if not wrong else f"[red]{len(wrong)} did not[/]"
    console.print(f"Every story ended as it says: {verdict}")
    for name, how in wrong.items():
        console.print(f"  [red]{name}: {'; '.join(how)}[/]")
    report = audit(dbs)
    verdict = "[green]hold[/]" if report.ok else "[red]are broken[/]"
    console.print(f"Invariants (one terminal state, stock, money, effects once): {verdict}")
    for violation in report.violations:
        console.print(f"  [red]{violation}[/]")


def show_mail(console: Console, maildir: Path) -> None:
    box = mailbox.Maildir(maildir, create=False) if maildir.exists() else None
    languages: Counter[str] = Counter(
        str(message["Content-Language"] or "?") for message in (box or [])
    )
    count = sum(languages.values())
    spread = ", ".join(f"{n} in {lang}" for lang, n in sorted(languages.items()))
    console.print(
        f"E-mails: {count} delivered to the Maildir {maildir}" + (f" ({spread})" if spread else "")
    )
    for language, subject, total in _confirmations(box):
        console.print(f"  {language}: {subject} — {total}")


TOTAL_LABELS = ("Total:", "Итого:", "Разом:", "合计：")  # noqa: RUF001


def _confirmations(box: mailbox.Maildir | None) -> list[tuple[str, str, str]]:
    """One order confirmation per language: its subject and its total, as the customer reads
    them (amounts and dates in the customer's locale)."""
    shown: dict[str, tuple[str, str, str]] = {}
    for message in box or []:
        language = str(message["Content-Language"] or "?")
        body = message.get_payload(decode=True)
        text = body.decode("utf-8") if isinstance(body, bytes) else ""
        totals = [
            line.strip() for line in text.splitlines() if line.strip().startswith(TOTAL_LABELS)
        ]
        if totals and language not in shown:
            subject = str(make_header(decode_header(str(message["Subject"]))))
            shown[language] = (language, subject, " ".join(totals[0].split()))
    return [shown[language] for language in sorted(shown)]


def _story(timeline: list[Entry]) -> str:
    """The order's steps in virtual time, a time shown only when it moved on; a step repeated
    in a row (delivery attempts) is shown once with its count."""
    steps = sorted((e for e in timeline if e.type in STEP_LABELS), key=lambda e: (e.at, _rank(e)))
    if not steps:
        return ""
    start = steps[0].at
    runs: list[tuple[str, list[datetime]]] = []
    for entry in steps:
        label = _label(entry)
        if runs and runs[-1][0] == label and label in REPEATED:
            runs[-1][1].append(entry.at)
        else:
            runs.append((label, [entry.at]))
    shown, last = [], start
    for label, moments in runs:
        text = label if len(moments) == 1 else f"{label} x{len(moments)}"
        if moments[0] > last:
            text += f" {when(moments[0], start)}"
            if len(moments) > 1:
                text += f"…{when(moments[-1], start)}"
        shown.append(text)
        last = moments[-1]
    return " → ".join(shown)


REPEATED = {"delivery failed", "reminder"}


def _rank(entry: Entry) -> int:
    """Order of steps at the same moment; cash is collected once the parcel is delivered, and a
    replacement's steps follow the order's own (its goods go out after the request for them)."""
    if entry.type == "payment.captured" and entry.data.get("method") == "cash_on_delivery":
        return list(STEP_LABELS).index("shipment.delivered") + 1
    subject = str(entry.data.get("order_id", ""))
    later = len(STEP_LABELS) if subject != original_order(subject) else 0
    return later + list(STEP_LABELS).index(entry.type)


def _label(entry: Entry) -> str:
    data = entry.data
    if entry.type == "payment.pending":
        received = data.get("received")
        if isinstance(received, dict) and received.get("amount"):
            return f"part paid ({money(int(received['amount']), str(received['currency']))})"
        return f"awaiting {str(data.get('method', 'payment')).replace('_', ' ')}"
    if entry.type == "payment.captured" and data.get("method") == "cash_on_delivery":
        return "cash collected"
    if entry.type == "payment.refunded":
        amount = data.get("amount")
        if isinstance(amount, dict):
            return f"refunded {money(int(amount['amount']), str(amount['currency']))}"
    return STEP_LABELS[entry.type]


def show_manager_report(
    console: Console, settings: Settings, since: datetime, until: datetime
) -> None:
    """What ``orderflow report`` tells a manager about the demo's orders, from reporting's read
    model: the summary and the lead times (the rest: ``orderflow report`` on these databases)."""
    from ..reports.figures import Period, compute_from
    from ..reports.render import tables

    start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    figures = compute_from(settings, Period(start, until + timedelta(days=1)))
    summary, _mix, lead_times, *_rest = tables(figures)
    console.print("\n[bold]The manager's report (orderflow report)[/bold]")
    console.print(summary)
    console.print(lead_times)
