"""The report as one self-contained HTML page: its tables, and charts drawn offline with
matplotlib and embedded as PNG, so the file can be mailed or opened without a network."""

from __future__ import annotations

import base64
import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: draw into memory

import matplotlib.pyplot as plt
from jinja2 import Environment, PackageLoader, select_autoescape
from rich.table import Table

from .figures import Figures
from .parked import Parked
from .render import tables

PAGE = Environment(
    loader=PackageLoader("orderflow.reports", ""), autoescape=select_autoescape(["j2"])
).get_template("page.html.j2")


@dataclass(frozen=True)
class Chart:
    title: str
    png: str


def html(figures: Figures) -> str:
    period = figures.period
    summary, *rest = tables(figures)
    return PAGE.render(
        since=f"{period.since:%Y-%m-%d}",
        until=f"{period.until:%Y-%m-%d}",
        channel=period.channel,
        summary=_rows(summary),
        charts=charts(figures),
        tables=[_plain(table) for table in rest],
    )


def charts(figures: Figures) -> list[Chart]:
    drawn = [_daily(figures), _lead_times(figures)]
    for title, counts in (
        ("Orders by channel", figures.by_channel),
        ("Orders by country", figures.by_country),
        ("Cancel reasons", figures.cancel_reasons),
        ("Top SKUs (units)", Counter(dict(figures.top_skus))),
        ("Parked messages by worker", _parked_by_worker(figures)),
    ):
        if counts:
            drawn.append(_bars(title, counts))
    return drawn


def _parked_by_worker(figures: Figures) -> Counter[str]:
    return figures.parked.by_worker if isinstance(figures.parked, Parked) else Counter()


def _daily(figures: Figures) -> Chart:
    figure, axes = plt.subplots(figsize=(7, 3))
    days = list(figures.daily)
    axes.bar(days, [figures.daily[day]["orders"] for day in days])
    axes.set_ylabel("orders placed")
    axes.tick_params(axis="x", labelrotation=45)
    return _png("Orders per day", figure)


def _lead_times(figures: Figures) -> Chart:
    figure, axes = plt.subplots(figsize=(7, 3))
    steps = [step for step, lead in figures.lead_times.items() if lead.orders]
    p50 = [figures.lead_times[step].p50_hours or 0.0 for step in steps]
    p90 = [figures.lead_times[step].p90_hours or 0.0 for step in steps]
    places = range(len(steps))
    axes.bar([p - 0.2 for p in places], p50, width=0.4, label="p50")
    axes.bar([p + 0.2 for p in places], p90, width=0.4, label="p90")
    axes.set_xticks(list(places), [f"to {step}" for step in steps])
    axes.set_ylabel("hours from placed")
    axes.legend()
    return _png("Lead times", figure)


def _bars(title: str, counts: Counter[str]) -> Chart:
    figure, axes = plt.subplots(figsize=(7, 3))
    ranked = counts.most_common(12)
    axes.barh([key for key, _ in reversed(ranked)], [count for _, count in reversed(ranked)])
    return _png(title, figure)


def _png(title: str, figure: Any) -> Chart:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return Chart(title, base64.b64encode(buffer.getvalue()).decode())


@dataclass(frozen=True)
class PlainTable:
    title: str
    columns: list[str]
    rows: list[list[str]]


def _plain(table: Table) -> PlainTable:
    columns = [str(column.header) for column in table.columns]
    return PlainTable(str(table.title or ""), columns, _rows(table))


def _rows(table: Table) -> list[list[str]]:
    cells = [[str(cell) for cell in column.cells] for column in table.columns]
    return [list(row) for row in zip(*cells, strict=True)]
