"""``orderflow report``'s figures over reporting's read model: what counts in a period, money kept
apart by currency, the percentiles, and the command's output and errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.reports.figures import Period, compute
from orderflow.reports.render import as_csv, as_json
from services.reporting.model import (
    Base,
    ReportedLine,
    ReportedOrder,
    ReportedRefund,
    ReportedRejection,
)

DAY = datetime(2026, 11, 23, tzinfo=UTC)
WEEK = Period(DAY, DAY + timedelta(days=7))


def hours(n: float) -> datetime:
    return DAY + timedelta(hours=n)


def order(
    order_id: str, placed: float, currency: str = "EUR", total: int = 1000, **more: object
) -> ReportedOrder:
    fields: dict[str, object] = {
        "order_id": order_id,
        "channel": "web",
        "country": "DE",
        "currency": currency,
        "payment_method": "card",
        "items_total": total - 100,
        "shipping_fee": 100,
        "total": total,
        "placed_at": hours(placed),
        "promised_delivery": date(2026, 11, 27),
        "lines": [
            ReportedLine(order_id=order_id, line=1, sku="MUG-BLUE", quantity=2, unit_price=450)
        ],
    }
    fields.update(more)
    return ReportedOrder(**fields)


def read_model() -> Iterator[Session]:
    """A session on reporting's tables in a fresh in-memory database."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as opened:
        yield opened


@pytest.fixture
def session() -> Iterator[Session]:
    yield from read_model()


def test_money_is_summed_per_currency_and_refunds_come_off(session: Session) -> None:
    session.add_all(
        [
            order("a", 1, paid_at=hours(1.5)),
            order("b", 2, paid_at=hours(2.5), total=3000),
            order("c", 3, currency="RUB", total=500_000, paid_at=hours(4)),
            order("d", 4),  # never paid
            ReportedRefund(
                refund_id="r1",
                order_id="b",
                amount=1000,
                currency="EUR",
                reason="x",
                refunded_at=hours(9),
            ),
        ]
    )
    figures = compute(session, WEEK)

    assert figures.orders == 4
    assert figures.revenue == {"EUR": 3000, "RUB": 500_000}
    assert figures.average_order_value == {"EUR": 1500, "RUB": 500_000}


def test_a_period_counts_orders_placed_in_it_without_replacements(session: Session) -> None:
    session.add_all(
        [
            order("before", -1),
            order("first", 0),
            order("last", 7 * 24 - 0.01),
            order("after", 7 * 24),
            order("first.1", 5, replaces_order="first"),
        ]
    )
    assert compute(session, WEEK).orders == 2
    assert compute(session, Period(DAY, DAY + timedelta(days=7), "phone")).orders == 0


def test_lead_times_are_nearest_rank_percentiles_of_the_orders_that_got_there(
    session: Session,
) -> None:
    session.add_all(
        [order(f"o{n}", 0, dispatched_at=hours(n), paid_at=hours(0)) for n in range(1, 11)]
        + [order("never", 0)]
    )
    dispatched = compute(session, WEEK).lead_times["dispatched"]

    assert (dispatched.orders, dispatched.p50_hours, dispatched.p90_hours) == (10, 5.0, 9.0)


def test_on_time_and_cancel_rates(session: Session) -> None:
    session.add_all(
        [
            order(
                "early",
                0,
                dispatched_at=hours(2),
                carrier_expected_delivery=date(2026, 11, 26),
                delivered_at=hours(60),
            ),
            order(
                "late",
                0,
                dispatched_at=hours(30),
                carrier_expected_delivery=date(2026, 11, 29),
                delivered_at=hours(24 * 6),
            ),
            order("gone", 0, cancelled_at=hours(1), cancel_reason="payment_failed"),
        ]
    )
    figures = compute(session, WEEK)

    assert (figures.on_time_dispatch.count, figures.on_time_dispatch.of) == (1, 2)
    assert (figures.on_time_delivery.count, figures.on_time_delivery.of) == (1, 2)
    assert (figures.cancelled.count, figures.cancelled.of) == (1, 3)
    assert figures.cancel_reasons == {"payment_failed": 1}
    assert figures.cancelled_units_by_sku == {"MUG-BLUE": 2}


def test_json_and_csv_say_the_same(session: Session) -> None:
    session.add_all(
        [
            order("a", 1, paid_at=hours(2)),
            ReportedRejection(
                order_id="x", attempt=1, channel="web", problems=2, rejected_at=hours(1)
            ),
        ]
    )
    figures = compute(session, WEEK)
    said = as_json(figures)
    rows = list(csv.DictReader(io.StringIO(as_csv(figures))))
    flat = {(row["section"], row["key"]): row["value"] for row in rows}

    assert said["submission_errors"] == {"count": 1, "of": 2, "share": 0.5}
    assert flat[("submission_errors", "count")] == "1"
    assert flat[("revenue_minor_units", "EUR")] == str(said["revenue_minor_units"]["EUR"])
    assert flat[("daily", "2026-11-23.orders")] == "1"


def read_model_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *rows: Base) -> None:
    """Reporting's database in ``tmp_path`` holding ``rows``, as the command's settings name it
    (the broker: memory://)."""
    monkeypatch.setenv("ORDERFLOW_BROKER_URL", "memory://")
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", f"sqlite:///{tmp_path}/{{worker}}.db")
    engine = create_engine(f"sqlite:///{tmp_path}/reporting.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add_all(rows)
    engine.dispose()


def test_the_command_prints_json_and_names_a_bad_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_model_on_disk(tmp_path, monkeypatch, order("a", 1, paid_at=hours(2)))
    runner = CliRunner()

    shown = runner.invoke(
        app, ["report", "--since", "2026-11-20", "--until", "2026-11-30", "--format", "json"]
    )
    backwards = runner.invoke(app, ["report", "--since", "2026-11-30", "--until", "2026-11-20"])
    unknown = runner.invoke(app, ["report", "--channel", "fax"])

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["orders"] == 1
    assert backwards.exit_code == 2 and "--since" in backwards.output
    assert unknown.exit_code == 2 and "--channel" in unknown.output
