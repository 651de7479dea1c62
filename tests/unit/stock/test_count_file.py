"""A count file as the warehouse writes it: read whole before anything is sent, every bad row
named with its line, its column and the problem, none skipped; and ``orderflow stock count``
refuses such a file with exit code 2, sending nothing."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.operator.counts import CountFileError, dated, parse_count
from shared.contracts import CountedSku


def problems(text: str) -> list[str]:
    with pytest.raises(CountFileError) as raised:
        parse_count(text)
    return raised.value.problems


def test_a_good_file_gives_each_sku_with_its_line() -> None:
    rows = parse_count(
        "\ufeffSKU, Counted ,location,reason\nMUG-BLUE,12,A-01-02,\n\nTEA-GREEN, 0 ,,Damaged\n"
    )

    assert [(row.line, row.counted) for row in rows] == [
        (2, CountedSku(sku="MUG-BLUE", counted=12, location="A-01-02")),
        (4, CountedSku(sku="TEA-GREEN", counted=0, reason="damaged")),
    ]


def test_only_sku_and_counted_are_required() -> None:
    [row] = parse_count("counted,sku\n3,PEN-RED\n")

    assert row.counted == CountedSku(sku="PEN-RED", counted=3)


def test_every_bad_row_is_named_with_its_line_column_and_problem() -> None:
    found = problems(
        "sku,counted,reason\n"
        "MUG-BLUE,twelve,\n"
        "mug-red,1,\n"
        ",2,\n"
        "PEN-RED,-1,\n"
        "TEA-GREEN,3,stolen\n"
        "LAMP-NEW,,\n"
        "CUP-WHITE,2\n"
        "MUG-BLUE,1,lost,extra\n"
        "PEN-BLACK,2000000,\n"
        "TEA-GREEN,1,\n"
    )

    assert found == [
        "line 2, column counted: 'twelve' is not a whole number ≥ 0",
        "line 3, column sku: upper-case letters, digits and dashes only, e.g. MUG-BLUE",
        "line 4, column sku: empty",
        "line 5, column counted: '-1' is not a whole number ≥ 0",
        "line 6, column reason: must be lost or damaged (a count above the books is always found)",
        "line 7, column counted: empty; write 0 if the shelf is empty",
        "line 8, column reason: missing (the row is short)",
        "line 9: 4 values, but the header has 3",
        "line 9, column sku: MUG-BLUE is counted on line 2",
        "line 10, column counted: Input should be less than or equal to 1000000",
        "line 11, column sku: TEA-GREEN is counted on line 6",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "FILE: empty; the first line names the columns"),
        ("sku,counted\n", "FILE: no rows to count under the header"),
        ("sku,location\nMUG-BLUE,A-1\n", "line 1: the required column 'counted' is missing"),
        ("sku,counted,qty\nMUG-BLUE,1,1\n", "line 1: unknown column 'qty'"),
        ("sku,counted,sku\nMUG-BLUE,1,X\n", "line 1: the column 'sku' appears twice"),
    ],
)
def test_a_file_without_the_columns_or_rows_of_a_count_is_refused(text: str, problem: str) -> None:
    [found] = problems(text)

    assert found.startswith(problem)


def test_the_command_refuses_a_bad_file_before_sending_anything(tmp_path: Path) -> None:
    count = tmp_path / "count.csv"
    count.write_text("sku,counted\nMUG-BLUE,many\n")
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERFLOW_")}
    env["ORDERFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path}/data/{{worker}}.db"

    result = CliRunner(env=env).invoke(app, ["stock", "count", str(count)])

    said = " ".join((result.stdout + result.stderr).split())
    assert result.exit_code == 2, said
    assert f"{count}: line 2, column counted: 'many' is not a whole number ≥ 0" in said
    assert not (tmp_path / "data").exists()


def test_the_command_says_what_a_count_file_looks_like() -> None:
    result = CliRunner().invoke(app, ["stock", "count", "--help"])

    said = " ".join(result.stdout.split())
    assert "sku,counted,location,reason,counted_at" in said
    assert "lost (the default) or damaged" in said


def test_a_good_file_on_memory_is_refused_before_any_database_is_read(tmp_path: Path) -> None:
    count = tmp_path / "count.csv"
    count.write_text("sku,counted\nMUG-BLUE,3\n")
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERFLOW_")}
    env["ORDERFLOW_BROKER_URL"] = "memory://"
    env["ORDERFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path}/data/{{worker}}.db"

    result = CliRunner(env=env).invoke(app, ["stock", "count", str(count)])

    said = " ".join((result.stdout + result.stderr).split())
    assert result.exit_code == 2, said
    assert "ORDERFLOW_BROKER_URL is memory://" in said and "no worker would see" in said
    assert not (tmp_path / "data").exists()


def test_each_row_may_say_when_its_shelf_was_counted() -> None:
    rows = parse_count(
        "sku,counted,counted_at\nMUG-BLUE,12,2026-12-01T09:30:00+01:00\nTEA-GREEN,3,\n"
    )
    moment = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

    lines = dated(rows, moment, now=datetime(2026, 12, 1, 12, 0, tzinfo=UTC))

    assert [(line.sku, line.counted_at) for line in lines] == [
        ("MUG-BLUE", datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
        ("TEA-GREEN", moment),
    ]


def test_a_counting_time_without_its_offset_or_to_come_is_refused() -> None:
    found = problems("sku,counted,counted_at\nMUG-BLUE,12,2026-12-01T09:30:00\n")
    assert found == [
        "line 2, column counted_at: a date and time with its UTC offset, "
        "e.g. 2026-12-01T09:30:00+01:00"
    ]

    rows = parse_count("sku,counted,counted_at\nMUG-BLUE,12,2026-12-01T13:00:00+00:00\n")
    with pytest.raises(CountFileError) as raised:
        dated(rows, datetime(2026, 12, 1, 9, 0, tzinfo=UTC), datetime(2026, 12, 1, 12, tzinfo=UTC))
    assert raised.value.problems == [
        "line 2, column counted_at: 2026-12-01 13:00:00+0000 is in the future; a shelf is "
        "counted before its count is sent"
    ]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("2026-12-01T09:30:00", "is not a date and time with its UTC offset"),
        ("yesterday", "is not a date and time with its UTC offset"),
        ("2999-01-01T00:00:00+00:00", "is in the future; count first, then send"),
    ],
)
def test_the_command_refuses_a_counting_time_it_cannot_use(
    tmp_path: Path, given: str, problem: str
) -> None:
    count = tmp_path / "count.csv"
    count.write_text("sku,counted\nMUG-BLUE,3\n")
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERFLOW_")}
    env["ORDERFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path}/data/{{worker}}.db"

    result = CliRunner(env=env).invoke(app, ["stock", "count", str(count), "--counted-at", given])

    said = " ".join((result.stdout + result.stderr).split())
    assert result.exit_code == 2, said
    assert f"--counted-at: {given!r}" in said or f"--counted-at: {given}" in said
    assert problem in said
    assert not (tmp_path / "data").exists()
