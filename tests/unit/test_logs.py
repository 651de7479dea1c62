"""The log lines' two formats and their fields (``shared.logs``), what an error may say in one
(``shared.log_events``), and how the CLI takes the log settings."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from pydantic import ValidationError
from typer.testing import CliRunner

from orderflow.cli.main import app
from shared import logs
from shared.contracts import FulfillmentCancelled, OrderPlaced, StockReleased
from shared.envelope import wrap
from shared.log_events import error_text, log_compensations
from shared.settings import LogSettings
from tests.factories import ADA, order_placed

PLACED = wrap(order_placed("ord-7"), source="intake")


@pytest.fixture
def written() -> Iterator[StringIO]:
    """What the root logger writes once configured, restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = StringIO()
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(out: StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_carry_the_message_in_hand_the_worker_and_the_replica(
    written: StringIO,
) -> None:
    logs.configure("json", "info", replica="stock-7f9c/12", stream=written)
    log = logs.get_logger("orderflow.worker")

    with logs.bound_worker("stock"):
        log.info("outside a message", count=2)
        with logs.handling("stock", PLACED):
            log.warning("message retried later", attempts=3)
            logging.getLogger("kombu.test").error("a library's %s line", "plain")
    log.info("after", worker="stock")

    outside, retried, library, after = lines(written)
    assert outside == {
        "event": "outside a message",
        "count": 2,
        "worker": "stock",
        "replica": "stock-7f9c/12",
        "level": "info",
        "logger": "orderflow.worker",
        "timestamp": outside["timestamp"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", outside["timestamp"])
    message = {
        "worker": "stock",
        "message_id": PLACED.id,
        "message_type": "order.placed",
        "order_id": "ord-7",
        "correlation_id": PLACED.correlationid,
        "replica": "stock-7f9c/12",
    }
    assert retried.items() >= {**message, "attempts": 3, "level": "warning"}.items()
    assert library.items() >= {**message, "event": "a library's plain line"}.items()
    assert library["logger"] == "kombu.test"
    assert "message_id" not in after and "trace_id" not in retried


def test_the_current_span_gives_the_trace_id_and_only_a_valid_one(written: StringIO) -> None:
    logs.configure("json", "info", stream=written)
    log = logs.get_logger("orderflow.worker")
    span = NonRecordingSpan(
        SpanContext(
            trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
            span_id=0x00F067AA0BA902B7,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )

    with trace.use_span(span):
        log.info("in a span")
    log.info("in none")

    in_span, in_none = lines(written)
    assert in_span["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert in_span["span_id"] == "00f067aa0ba902b7"
    assert "trace_id" not in in_none and "span_id" not in in_none
    assert in_none["replica"] == logs.replica_name()


def test_console_lines_are_readable_and_tracebacks_are_plain(written: StringIO) -> None:
    logs.configure("console", "debug", replica="dev", stream=written)
    log = logs.get_logger("orderflow.worker")

    with logs.handling("payment", PLACED):
        log.debug("message handled", seconds=0.0012)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.error("handling failed", kind="handler_error", exc_info=True)

    handled, failed, *traceback = written.getvalue().splitlines()
    assert re.fullmatch(
        r"\S+Z \[debug\s*\] message handled\s+\[orderflow\.worker\] correlation_id=\S+ "
        rf"message_id={PLACED.id} message_type=order\.placed order_id=ord-7 replica=dev "
        r"seconds=0\.0012 worker=payment",
        handled,
    )
    assert "[error    ] handling failed" in failed and "kind=handler_error" in failed
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "RuntimeError: boom"
    assert "\x1b[" not in written.getvalue(), "no colours where the stream is no terminal"


def test_below_the_level_nothing_is_written(written: StringIO) -> None:
    logs.configure("json", "warning", stream=written)
    log = logs.get_logger("orderflow.worker")

    log.info("retrying in process")
    log.debug("message handled")
    log.warning("message parked")

    assert [line["event"] for line in lines(written)] == ["message parked"]


def test_what_looks_like_an_address_or_a_card_token_is_masked(written: StringIO) -> None:
    logs.configure("json", "info", stream=written)

    logging.getLogger("somelib").warning("sent to ada@example.com with tok_visa_4242")

    (line,) = lines(written)
    assert line["event"] == "sent to [email] with [token]"


def test_a_compensation_is_a_line_with_its_kind_and_a_known_reason_only(
    written: StringIO,
) -> None:
    logs.configure("json", "info", stream=written)
    released = wrap(StockReleased(order_id="ord-7", reason="payment_failed"), source="stock")
    typed = wrap(
        FulfillmentCancelled(order_id="ord-7", reason="Moving to Invalidenstr. 117"),
        source="warehouse",
    )

    log_compensations("stock", [PLACED, released, typed])

    first, second = lines(written)
    assert (
        first.items()
        >= {
            "event": "compensation committed",
            "kind": "stock_released",
            "reason": "payment_failed",
            "announced": "stock.released",
            "order_id": "ord-7",
            "announcement_id": released.id,
            "worker": "stock",
        }.items()
    )
    assert (second["kind"], second["reason"]) == ("fulfillment_cancelled", "customer_cancelled")
    assert "Invalidenstr" not in written.getvalue()


def test_a_contract_validation_error_names_fields_never_the_input() -> None:
    with pytest.raises(ValidationError) as refused:
        OrderPlaced.model_validate(
            {**order_placed().model_dump(mode="json"), "customer": {"email": ADA.email}}
        )

    assert ADA.email not in str(refused.value) and ADA.email not in repr(refused.value)
    assert error_text(refused.value).startswith("customer.name: Field required")


def test_the_log_settings_are_read_and_checked() -> None:
    chosen = LogSettings(log_format="json", log_level="WARNING", replica="r-1")  # type: ignore[arg-type]
    assert (chosen.log_format, chosen.log_level, chosen.replica) == ("json", "warning", "r-1")

    with pytest.raises(ValidationError, match="log_format"):
        LogSettings(log_format="xml")  # type: ignore[arg-type]


def test_the_cli_refuses_a_log_format_or_level_it_does_not_know() -> None:
    runner = CliRunner()

    by_env = runner.invoke(app, ["worker", "stock"], env={"ORDERFLOW_LOG_FORMAT": "xml"})
    by_option = runner.invoke(app, ["worker", "stock", "--log-level", "loud"])

    refused = " ".join(by_env.output.split())  # Rich wraps long lines
    assert by_env.exit_code != 0
    assert "log_format (ORDERFLOW_LOG_FORMAT): Input should be 'console' or 'json'" in refused
    assert by_option.exit_code != 0 and "--log-level: 'loud' is not one of" in by_option.output
