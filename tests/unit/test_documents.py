"""The documents' parts that need no database: the customers' words, the fonts a line is set
in, the picker's walk, and how a tax rate is written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.documents.fonts import FACES, Run, runs
from orderflow.documents.staff import Pick, picks
from orderflow.documents.words import WORDS
from services.warehouse.model import Fulfillment
from shared.contracts import ReservedLine
from shared.contracts.orders import Language
from shared.locales import locale_for, written_rate
from tests.required import required

NOW = datetime(2026, 3, 7, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("language", Language.__args__)
def test_every_language_an_order_may_be_in_has_every_word(language: str) -> None:
    assert set(WORDS[language]) == set(WORDS["en"])


def test_a_line_is_set_in_dejavu_and_where_it_has_no_glyph_in_the_cjk_font() -> None:
    if not all(path.exists() for path, _ in FACES.values()):
        required("the documents' fonts (Debian: fonts-dejavu-core, fonts-wqy-microhei)")

    assert list(runs("张伟, ул. Тверская 7 上海")) == [
        Run("CJK", "张伟"),
        Run("Sans", ", ул. Тверская 7 "),
        Run("CJK", "上海"),
    ]
    assert list(runs("Jane", bold=True)) == [Run("Sans-Bold", "Jane")]


def line(sku: str, quantity: int, location: str) -> ReservedLine:
    return ReservedLine(sku=sku, quantity=quantity, location=location, unit_weight_grams=100)


def test_a_wave_is_picked_in_one_walk_down_the_shelves() -> None:
    wave = [
        Fulfillment.for_pick_list("ord-2", [line("TEA", 1, "B-02"), line("MUG", 2, "A-01")], NOW),
        Fulfillment.for_pick_list(
            "ord-1", [line("KETTLE", 1, "C-01"), line("MUG", 1, "A-01")], NOW
        ),
    ]

    assert picks(wave) == [
        Pick("A-01", "MUG", "ord-1", 1),
        Pick("A-01", "MUG", "ord-2", 2),
        Pick("B-02", "TEA", "ord-2", 1),
        Pick("C-01", "KETTLE", "ord-1", 1),
    ]


@pytest.mark.parametrize(
    ("basis_points", "language", "country", "written"),
    [
        (1900, "en", None, "19%"),
        (750, "en", None, "7.5%"),
        (2000, "ru", None, "20\N{NO-BREAK SPACE}%"),
        (1300, "zh", "CN", "13%"),
        (700, "en", "DE", "7\N{NO-BREAK SPACE}%"),
    ],
)
def test_a_tax_rate_is_written_as_the_locale_writes_a_percentage(
    basis_points: int, language: str, country: str | None, written: str
) -> None:
    assert written_rate(basis_points, locale_for(language, country)) == written


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["pick-list"], "name orders, or give --since for a wave"),
        (["pick-list", "ord_1", "--since", "2026-03-02"], "name orders or give --since/--until"),
        (["wave"], "--since: when the wave starts"),
        (["wave", "--since", "yesterday"], "--since: 'yesterday' is not an ISO date or date-time"),
        (
            ["wave", "--since", "2026-03-02T10:00", "--until", "2026-03-02T09:00"],
            "--since: 2026-03-02T10:00 is after --until 2026-03-02T09:00",
        ),
    ],
)
def test_what_to_print_is_checked_before_any_database_is_opened(
    args: list[str], said: str, tmp_path: Path
) -> None:
    env = {"ORDERFLOW_DATABASE_URL": f"sqlite:///{tmp_path}/{{worker}}.db"}
    result = CliRunner(env=env).invoke(app, ["documents", *args])

    assert result.exit_code == 2
    assert said in " ".join(result.stderr.split())
    assert list(tmp_path.iterdir()) == []
