"""The report's figures as rich tables in a terminal, as JSON, and as CSV rows.

JSON and CSV carry money in minor units with its currency and times in hours, for a program to
read; the tables write money as an English-speaking manager reads it."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.locales import locale_for, written_money

from .figures import Figures, LeadTime, Rate
from .parked import Parked, Unread

MANAGER = locale_for("en", "GB")


def as_json(figures: Figures) -> dict[str, Any]:
    """Everything the report says, in plain JSON values."""
    period = figures.period
    return {
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "channel": period.channel,
        **{section: value for section, value in _sections(figures)},
    }


def as_csv(figures: Figures) -> str:
    """One row per figure: section, key, value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "value"])
    for section, value in _sections(figures):
        for key, item in _flat(value):
            writer.writerow([section, key, item])
    return out.getvalue()


def show(console: Console, figures: Figures) -> None:
    """The report as tables, section by section."""
    period = figures.period
    title = f"Orders placed {period.since:%Y-%m-%d} to {period.until:%Y-%m-%d} (end excluded)"
    channel = f", channel {period.channel}" if period.channel else ""
    console.print(f"[bold]{title}{channel}[/bold]")
    for table in tables(figures):
        console.print(table)


def tables(figures: Figures) -> list[Table]:
    """The report's tables, the summary first: what the terminal and the HTML page show."""
    return [
        _summary(figures),
        _errors(figures),
        _parked(figures),
        _mix(figures),
        _lead_times(figures),
        _counts("Cancel reasons", "reason", figures.cancel_reasons),
        _counts("Return reasons (units)", "reason", figures.return_reasons),
        _skus(figures),
        _daily(figures),
    ]


def _summary(figures: Figures) -> Table:
    table = Table("figure", "value", title="Summary")
    table.add_row("orders", str(figures.orders))
    for currency, amount in figures.revenue.items():
        table.add_row(f"revenue ({currency})", written_money(amount, currency, MANAGER))
        average = figures.average_order_value[currency]
        table.add_row(f"average order ({currency})", written_money(average, currency, MANAGER))
    for name, rate in _rates(figures):
        table.add_row(name, _rate(rate))
    table.add_row("backorders", str(figures.backorders))
    return table


def _errors(figures: Figures) -> Table:
    table = Table("error", "count", "per 1,000 orders", title="Errors")
    for name, count in _error_counts(figures):
        if isinstance(count, Unread):
            table.add_row(name, count.why, "-")
        else:
            table.add_row(name, str(count), _per_thousand(figures.per_thousand_orders(count)))
    return table


def _parked(figures: Figures) -> Table:
    table = Table("by", "value", "parked", title="Parked messages (by when they were parked)")
    parked = figures.parked
    if isinstance(parked, Unread):
        table.add_row("-", parked.why, "-")
        return table
    for by, counts in (("worker", parked.by_worker), ("reason", parked.by_reason)):
        for value, count in counts.most_common():
            table.add_row(by, value, str(count))
    table.add_row("all", "in the period", str(parked.count))
    if parked.undated:
        table.add_row("all", "parked at an unknown time, not counted", str(parked.undated))
    return table


def _mix(figures: Figures) -> Table:
    table = Table("by", "value", "orders", "share", title="Mix")
    for by, counts in (
        ("channel", figures.by_channel),
        ("payment method", figures.by_payment_method),
        ("country", figures.by_country),
    ):
        for value, count in counts.most_common():
            table.add_row(by, value, str(count), _share(count, figures.orders))
    return table


def _lead_times(figures: Figures) -> Table:
    table = Table("from placed to", "orders", "p50 hours", "p90 hours", title="Lead times")
    steps = [*figures.lead_times.items(), ("reserved, after a backorder", figures.backorder_wait)]
    for step, lead in steps:
        table.add_row(step, str(lead.orders), _hours(lead.p50_hours), _hours(lead.p90_hours))
    return table


def _skus(figures: Figures) -> Table:
    table = Table("SKU", "units sold", "cancelled", "returned", title="Top SKUs")
    for sku, units in figures.top_skus:
        cancelled, back = figures.cancelled_units_by_sku[sku], figures.returned_units_by_sku[sku]
        table.add_row(sku, str(units), str(cancelled), str(back))
    return table


def _daily(figures: Figures) -> Table:
    table = Table(title="Daily")
    for column in ("day", "orders", *figures.revenue):
        table.add_column(column, no_wrap=True)
    for day, values in figures.daily.items():
        money = [written_money(values.get(c, 0), c, MANAGER) for c in figures.revenue]
        table.add_row(day, str(values["orders"]), *money)
    return table


def _sections(figures: Figures) -> Iterator[tuple[str, Any]]:
    yield "orders", figures.orders
    yield "revenue_minor_units", figures.revenue
    yield "average_order_value_minor_units", figures.average_order_value
    yield "by_channel", dict(figures.by_channel.most_common())
    yield "by_payment_method", dict(figures.by_payment_method.most_common())
    yield "by_country", dict(figures.by_country.most_common())
    yield "lead_times_hours", {step: _lead(lead) for step, lead in figures.lead_times.items()}
    yield "backorders", figures.backorders
    yield "backorder_wait_hours", _lead(figures.backorder_wait)
    for name, rate in _rates(figures):
        yield name.replace(" ", "_"), _rate_json(rate)
    yield "cancel_reasons", dict(figures.cancel_reasons.most_common())
    yield "cancelled_units_by_sku", dict(sorted(figures.cancelled_units_by_sku.items()))
    yield "return_reasons_units", dict(figures.return_reasons.most_common())
    yield "returned_units_by_sku", dict(sorted(figures.returned_units_by_sku.items()))
    yield "rejected_submissions", figures.rejected_submissions
    yield "parked", _parked_json(figures)
    yield (
        "errors",
        {
            name.replace(" ", "_").replace(":", ""): _error_json(figures, count)
            for name, count in _error_counts(figures)
        },
    )
    yield "top_skus_units", dict(figures.top_skus)
    yield "daily", figures.daily


def _rates(figures: Figures) -> list[tuple[str, Rate]]:
    return [
        ("on time dispatch", figures.on_time_dispatch),
        ("on time delivery", figures.on_time_delivery),
        ("cancelled", figures.cancelled),
        ("returned units", figures.returned_units),
        ("unpaid expired", figures.unpaid_expired),
        ("submission errors", figures.submission_errors),
    ]


def _error_counts(figures: Figures) -> list[tuple[str, int | Unread]]:
    parked = figures.parked
    causes = figures.cancel_causes
    counts: list[tuple[str, int | Unread]] = [
        ("refused submissions", figures.rejected_submissions),
        ("parked", parked.count if isinstance(parked, Parked) else parked),
        ("cancelled: failure", causes["failure"]),
        ("cancelled: customer", causes["customer"]),
        ("cancelled: review", causes["review"]),
    ]
    if causes["other"]:
        counts.append(("cancelled: other", causes["other"]))
    return counts


def _error_json(figures: Figures, count: int | Unread) -> dict[str, Any]:
    if isinstance(count, Unread):
        return {"read": False, "why": count.why}
    return {"count": count, "per_1000_orders": _round(figures.per_thousand_orders(count))}


def _parked_json(figures: Figures) -> dict[str, Any]:
    parked = figures.parked
    if isinstance(parked, Unread):
        return {"read": False, "why": parked.why}
    return {
        "read": True,
        **_error_json(figures, parked.count),
        "by_worker": dict(parked.by_worker.most_common()),
        "by_reason": dict(parked.by_reason.most_common()),
        "undated": parked.undated,
    }


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict | Counter):
        for key, item in value.items():
            yield from _flat(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _lead(lead: LeadTime) -> dict[str, Any]:
    return {"orders": lead.orders, "p50": _round(lead.p50_hours), "p90": _round(lead.p90_hours)}


def _rate_json(rate: Rate) -> dict[str, Any]:
    return {"count": rate.count, "of": rate.of, "share": _round(rate.share, 4)}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _counts(title: str, label: str, counts: Counter[str]) -> Table:
    table = Table(label, "count", title=title)
    for key, count in counts.most_common():
        table.add_row(key, str(count))
    return table


def _rate(rate: Rate) -> str:
    return f"{rate.count} of {rate.of} ({_share(rate.count, rate.of)})"


def _share(count: int, of: int) -> str:
    return f"{100 * count / of:.1f}%" if of else "-"


def _per_thousand(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}"


def _hours(hours: float | None) -> str:
    return "-" if hours is None else f"{hours:.1f}"
