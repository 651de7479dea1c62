"""A physical count as the warehouse writes it down: a CSV file, read into ``stock.count``'s
lines, and stock's answer (``stock.counted``) read back for the discrepancy report.

The file is checked whole before anything is sent: every bad row is reported with its line,
its column and the problem, and none is skipped, so a count is applied as written or not at
all."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from services.stock.supply import CountRecord
from shared.contracts import CountedLine, CountedSku, StockCounted

from ..cluster.databases import WorkerDatabases

REQUIRED = ("sku", "counted")
OPTIONAL = ("location", "reason", "counted_at")
WHOLE_NUMBER = re.compile(r"^[0-9]+$")


class CountFileError(ValueError):
    """The file cannot be counted as written; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CountedRow:
    line: int
    """The row's line in the file (the header is line 1)."""
    counted: CountedSku


def read_count(path: Path) -> list[CountedRow]:
    """The rows of the count file at ``path``; ``CountFileError`` with every problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CountFileError([f"{path}: cannot be read ({error})"]) from None
    return parse_count(text, str(path))


def parse_count(text: str, name: str = "FILE") -> list[CountedRow]:
    source = io.StringIO(text.removeprefix("\ufeff"), newline="")
    reader = csv.DictReader(source, restkey="\0extra", strict=True)
    try:
        header = [column.strip().lower() for column in reader.fieldnames or []]
    except csv.Error as error:
        raise CountFileError([f"{name}: line 1: {error}"]) from None
    _check_header(header, name)
    reader.fieldnames = header
    rows: list[CountedRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    try:
        for fields in reader:
            line = reader.line_num
            sku = (fields.get("sku") or "").strip()
            row, found = _row(fields, line, len(header))
            problems += found
            if sku in seen:
                problems.append(f"line {line}, column sku: {sku} is counted on line {seen[sku]}")
            elif sku:
                seen[sku] = line
            if row is not None:
                rows.append(row)
    except csv.Error as error:
        problems.append(f"line {reader.line_num}: {error}")
    if not rows and not problems:
        problems.append(f"{name}: no rows to count under the header")
    if problems:
        raise CountFileError(problems)
    return rows


def dated(rows: list[CountedRow], moment: datetime, now: datetime) -> list[CountedSku]:
    """The counted lines, each dated: its own ``counted_at``, else ``moment``.
    ``CountFileError`` names each line dated after ``now``: a shelf is counted before its count
    is sent."""
    lines = [
        row.counted
        if row.counted.counted_at
        else row.counted.model_copy(update={"counted_at": moment})
        for row in rows
    ]
    problems = [
        f"line {row.line}, column counted_at: {line.counted_at:%Y-%m-%d %H:%M:%S%z} is in the "
        "future; a shelf is counted before its count is sent"
        for row, line in zip(rows, lines, strict=True)
        if line.counted_at is not None and line.counted_at > now
    ]
    if problems:
        raise CountFileError(problems)
    return lines


def _check_header(header: list[str], name: str) -> None:
    problems = []
    if not header:
        raise CountFileError([f"{name}: empty; the first line names the columns"])
    for column in REQUIRED:
        if column not in header:
            problems.append(f"line 1: the required column {column!r} is missing")
    for column in header:
        if column not in REQUIRED + OPTIONAL:
            known = ", ".join(REQUIRED + OPTIONAL)
            problems.append(f"line 1: unknown column {column!r} (columns: {known})")
        elif header.count(column) > 1:
            problems.append(f"line 1: the column {column!r} appears twice")
    if problems:
        raise CountFileError(sorted(set(problems), key=problems.index))


def _row(fields: dict[str, Any], line: int, columns: int) -> tuple[CountedRow | None, list[str]]:
    """One row as a counted SKU, or its problems, each naming the line and the column."""
    extra = fields.pop("\0extra", None)
    if extra is not None:
        return None, [f"line {line}: {columns + len(extra)} values, but the header has {columns}"]
    missing = [column for column, value in fields.items() if value is None]
    if missing:
        return None, [f"line {line}, column {c}: missing (the row is short)" for c in missing]
    values = {column: value.strip() for column, value in fields.items()}
    problems = []
    counted = values["counted"]
    if not counted:
        problems.append(f"line {line}, column counted: empty; write 0 if the shelf is empty")
    elif not WHOLE_NUMBER.match(counted):
        problems.append(f"line {line}, column counted: {counted!r} is not a whole number ≥ 0")
    if not values["sku"]:
        problems.append(f"line {line}, column sku: empty")
    if problems:
        return None, problems
    chosen = {column: value for column, value in values.items() if value}
    if "reason" in chosen:
        chosen["reason"] = chosen["reason"].lower()
    try:
        return CountedRow(line, CountedSku(**chosen)), []
    except ValidationError as error:
        return None, [
            f"line {line}, column {problem['loc'][0]}: {_said(problem)}"
            for problem in error.errors()
        ]


def _said(problem: Any) -> str:
    if problem["loc"][0] == "reason":
        return "must be lost or damaged (a count above the books is always found)"
    if problem["loc"][0] == "counted_at":
        return "a date and time with its UTC offset, e.g. 2026-12-01T09:30:00+01:00"
    if problem["loc"][0] == "sku" and problem["type"] == "string_pattern_mismatch":
        return "upper-case letters, digits and dashes only, e.g. MUG-BLUE"
    return str(problem["msg"])


def unknown_skus(dbs: WorkerDatabases, rows: Iterable[CountedRow]) -> list[str]:
    """Each row whose SKU stock does not keep, as a problem naming its line."""
    from services.stock.store import StockUnitOfWork

    with dbs.session("stock") as session:
        items = StockUnitOfWork(session).items
        return [
            f"line {row.line}, column sku: stock does not keep {row.counted.sku}; "
            f"set its level first (orderflow stock set)"
            for row in rows
            if items.get(row.counted.sku) is None
        ]


def applied(dbs: WorkerDatabases, count_id: str) -> StockCounted | None:
    """The report of a count stock applied already, or None."""
    with dbs.session("stock") as session:
        record = session.get(CountRecord, count_id)
        return None if record is None else record.announcement()


def discrepancies(report: StockCounted) -> list[CountedLine]:
    """The lines that differ from the books, largest difference first."""
    differ = [line for line in report.lines if line.difference]
    return sorted(differ, key=lambda line: (-abs(line.difference), line.sku))


def show_report(console: Console, report: StockCounted) -> None:
    """The discrepancies as a table (sku, books, in parcels, counted, difference, reason), a
    summary, and the orders the count left short."""
    differ = discrepancies(report)
    if differ:
        table = Table("sku", "books", "in parcels", "counted", "difference", "reason")
        for line in differ:
            numbers = (str(line.books), str(line.in_parcels), str(line.counted))
            table.add_row(line.sku, *numbers, f"{line.difference:+d}", line.reason)
        console.print(table)
    console.print(
        f"count {report.count_id}: {len(report.lines)} SKUs counted, "
        f"{len(report.lines) - len(differ)} as the books say, {len(differ)} adjusted"
    )
    if report.short_orders:
        console.print(
            "short after the count, so cancelled as out of stock (refunded if paid): "
            + ", ".join(report.short_orders)
        )
