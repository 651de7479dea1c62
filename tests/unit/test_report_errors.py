"""The report's errors: parked messages counted by when they were parked, per worker and reason,
as a rate per 1,000 orders; cancels by whose doing they were; and a parked figure that says it
is unknown, never zero, when the parking lots were not read."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import amqp
import pytest
from rich.console import Console
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.operator.parking import ParkedMessage, parse
from orderflow.reports.figures import compute
from orderflow.reports.page import html
from orderflow.reports.parked import Parked, Unread, count_parked, read_parked
from orderflow.reports.render import as_csv, as_json, show
from services.reporting.model import ReportedRejection
from shared.settings import Settings
from tests.unit.test_report import WEEK, hours, order, read_model, read_model_on_disk


@pytest.fixture
def session() -> Iterator[Session]:
    yield from read_model()


def parked(worker: str, kind: str, at: datetime | None, tag: int = 1) -> ParkedMessage:
    headers: dict[str, object] = {"x-orderflow-kind": kind, "x-orderflow-parked-id": f"p{tag}"}
    if at is not None:
        headers["x-orderflow-parked-at"] = at.isoformat()
    raw = amqp.Message(b"{not json", application_headers=headers)
    raw.delivery_info = {"delivery_tag": tag, "redelivered": False}
    return parse(worker, f"orderflow.{worker}.parking", raw)


def dead_lettered(at: datetime) -> ParkedMessage:
    death = {"reason": "delivery_limit", "queue": "orderflow.stock", "time": at}
    raw = amqp.Message(b"{}", message_id="m-9", application_headers={"x-death": [death]})
    raw.delivery_info = {"delivery_tag": 9, "redelivered": False}
    return parse("stock", "orderflow.stock.parking", raw)


def test_parked_messages_count_by_when_their_headers_say_they_were_parked() -> None:
    lots = [
        parked("stock", "malformed", hours(-1), 1),  # the day before: not in the week
        parked("stock", "malformed", hours(1), 2),
        parked("stock", "handler_error", hours(30), 3),
        parked("intake", "malformed", hours(2), 4),
        parked("intake", "invalid", WEEK.until, 5),  # the end is excluded
        parked("payment", "malformed", None, 6),
        dead_lettered(hours(3).replace(tzinfo=None)),  # the broker's x-death time, naive UTC
    ]

    counted = count_parked(lots, WEEK.since, WEEK.until)

    assert counted.by_worker == {"stock": 3, "intake": 1}
    assert counted.by_reason == {"malformed": 2, "handler_error": 1, "retries_exhausted": 1}
    assert (counted.count, counted.undated) == (4, 1)


def test_cancels_are_told_apart_by_whose_doing_they_were(session: Session) -> None:
    reasons = ["out_of_stock", "payment_failed", "delivery_failed", "backorder_expired"]
    reasons += ["customer_cancelled", "payment_expired", "review_rejected", "lost_in_space"]
    session.add_all(
        [order(reason, 1, cancelled_at=hours(2), cancel_reason=reason) for reason in reasons]
        + [order("kept", 1)]
    )

    figures = compute(session, WEEK)
    errors = as_json(figures)["errors"]

    assert figures.cancel_causes == {"failure": 4, "customer": 2, "review": 1, "other": 1}
    assert errors["cancelled_failure"] == {"count": 4, "per_1000_orders": 444.44}
    assert errors["cancelled_customer"]["count"] == 2
    assert errors["cancelled_review"]["count"] == 1
    assert errors["cancelled_other"]["count"] == 1


def test_parked_messages_are_a_rate_per_thousand_orders_in_every_output(session: Session) -> None:
    session.add_all([order(f"o{n}", 1) for n in range(3)])
    session.add(
        ReportedRejection(order_id="x", attempt=1, channel="web", problems=1, rejected_at=hours(1))
    )
    figures = compute(session, WEEK)
    figures.parked = Parked(Counter(stock=2), Counter(malformed=2), undated=1)

    said = as_json(figures)
    rows = {
        (r["section"], r["key"]): r["value"] for r in csv.DictReader(io.StringIO(as_csv(figures)))
    }
    terminal = Console(width=200, record=True)
    show(terminal, figures)
    text = terminal.export_text()

    assert said["parked"] == {
        "read": True,
        "count": 2,
        "per_1000_orders": 666.67,
        "by_worker": {"stock": 2},
        "by_reason": {"malformed": 2},
        "undated": 1,
    }
    assert said["errors"]["refused_submissions"] == {"count": 1, "per_1000_orders": 333.33}
    assert said["errors"]["parked"] == {"count": 2, "per_1000_orders": 666.67}
    assert rows[("parked", "by_worker.stock")] == "2"
    assert rows[("errors", "parked.per_1000_orders")] == "666.67"
    assert "parked at an unknown time, not counted" in text
    assert "666.7" in text
    assert "Parked messages by worker" in html(figures)


def test_a_report_from_the_read_model_alone_says_parked_is_unknown(session: Session) -> None:
    session.add(order("a", 1))
    figures = compute(session, WEEK)

    said = as_json(figures)
    rows = {
        (r["section"], r["key"]): r["value"] for r in csv.DictReader(io.StringIO(as_csv(figures)))
    }
    terminal = Console(width=200, record=True)
    show(terminal, figures)
    page = html(figures)

    assert said["parked"] == {"read": False, "why": said["errors"]["parked"]["why"]}
    assert said["errors"]["parked"]["read"] is False
    assert "read model alone" in said["parked"]["why"]
    assert rows[("parked", "read")] == "False"
    assert "read model alone" in terminal.export_text()
    assert "read model alone" in page


def test_an_unreachable_broker_is_named_instead_of_a_count() -> None:
    closed = Settings(broker_url="amqp://guest:guest@127.0.0.1:1//", namespace="nobody")

    found = read_parked(closed, WEEK.since, WEEK.until)

    assert isinstance(found, Unread)
    assert found.why.startswith("not read: cannot reach the broker at 127.0.0.1:1")


def test_the_command_says_why_on_memory_and_for_one_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_model_on_disk(tmp_path, monkeypatch, order("a", 1))
    week = ["--since", "2026-11-20", "--until", "2026-11-30", "--format", "json"]

    every = CliRunner().invoke(app, ["report", *week])
    phone = CliRunner().invoke(app, ["report", *week, "--channel", "phone"])

    assert every.exit_code == 0, every.output
    assert json.loads(every.output)["parked"]["read"] is False
    assert "memory://" in json.loads(every.output)["parked"]["why"]
    assert "one channel" in json.loads(phone.output)["parked"]["why"]
