"""``orderflow parking`` refuses bad arguments (exit 2, naming the option) and memory://, before
anything is opened; and what it reads from a parked message's headers and body.

No broker and no database: the CLI runs on ``memory://`` with a SQLite directory of the test's
own, which every refused command must leave untouched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import amqp
import pytest
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.cluster.channel import submit_envelope
from orderflow.cluster.registry import NAMES, UnknownWorker
from orderflow.operator.parking import Filters, as_sent, chosen_workers, find, moment, parse

Run = Callable[..., tuple[int, str]]
SUBCOMMANDS = [["list"], ["show", "1"], ["replay"], ["purge", "--yes"]]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def run(data_dir: Path) -> Run:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERFLOW_")}
    env |= {
        "ORDERFLOW_BROKER_URL": "memory://",
        "ORDERFLOW_DATABASE_URL": f"sqlite:///{data_dir}/{{worker}}.db",
        "ORDERFLOW_NAMESPACE": "cli-test",
    }

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner(env=env).invoke(app, ["parking", *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, " ".join((result.stdout + result.stderr).split())

    return invoke


def refused(ran: tuple[int, str], *words: str) -> None:
    code, text = ran
    assert code == 2, text
    assert text.startswith("error: "), text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"


@pytest.mark.parametrize("command", [*SUBCOMMANDS, ["purge", "--dry-run"]])
@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--since", "yesterday", ["--since", "'yesterday'", "ISO date"]),
        ("--until", "2026-13-01", ["--until", "'2026-13-01'", "ISO date"]),
        ("--since", "", ["--since", "ISO date"]),
        ("--worker", "stok", ["--worker", "no worker named 'stok'", "stock"]),
        ("--order", " ", ["--order", "empty"]),
    ],
)
def test_a_bad_filter_names_its_option(
    run: Run, data_dir: Path, command: list[str], option: str, value: str, words: list[str]
) -> None:
    refused(run(*command, option, value), *words)
    assert list(data_dir.iterdir()) == []


def test_since_after_until_is_refused(run: Run) -> None:
    refused(run("list", "--since", "2026-03-02T10:00", "--until", "2026-03-01"), "--since", "after")


def test_audit_refuses_an_unknown_worker(run: Run) -> None:
    refused(run("audit", "--worker", "nobody"), "--worker", "no worker named 'nobody'")


@pytest.mark.parametrize("command", [*SUBCOMMANDS, ["purge", "--dry-run"], ["audit"]])
def test_memory_is_refused_before_anything_is_opened(
    run: Run, data_dir: Path, command: list[str]
) -> None:
    refused(run(*command), "memory://", "lives inside the process", "amqp://")
    assert list(data_dir.iterdir()) == []


def test_purge_without_yes_is_refused_on_memory_first(run: Run) -> None:
    refused(run("purge"), "memory://")


# -- the pieces -------------------------------------------------------------------------------


def test_moments_are_utc_and_a_bare_until_date_includes_the_day() -> None:
    assert moment("2026-03-02") == datetime(2026, 3, 2, tzinfo=UTC)
    assert moment("2026-03-02", end_of_day=True) == datetime(
        2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC
    )
    assert moment("2026-03-02T09:30") == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert moment("2026-03-02T09:30+01:00") == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert moment("2026-03-02T09:30Z", end_of_day=True) == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        moment("last tuesday")


def test_workers_are_checked_and_kept_in_the_registry_order() -> None:
    assert chosen_workers(None) == tuple(NAMES)
    assert chosen_workers(["stock", "intake", "stock"]) == ("intake", "stock")
    with pytest.raises(UnknownWorker, match="no worker named 'stok'"):
        chosen_workers(["stok"])


def delivery(body: bytes, tag: int = 1, **properties: object) -> amqp.Message:
    message = amqp.Message(body, **properties)
    message.delivery_info = {"delivery_tag": tag, "redelivered": False}
    return message


def test_a_parked_message_is_read_from_its_headers_and_body() -> None:
    body = b'{"id": "m-1", "type": "order.placed", "subject": "ord-1", "data": {"lines": 3}}'
    headers = {
        "x-orderflow-reason": "invalid order.placed: lines: Input should be a valid list",
        "x-orderflow-kind": "invalid",
        "x-orderflow-exception": "",
        "x-orderflow-worker": "stock",
        "x-orderflow-origin": "orderflow.events/order.placed",
        "x-orderflow-attempts": 1,
        "x-orderflow-parked-at": "2026-03-02T09:00:00+00:00",
        "x-delivery-count": 3,
    }
    parked = parse(
        "stock",
        "orderflow.stock.parking",
        delivery(body, 7, message_id="parked-0-1", application_headers=headers),
    )
    assert (parked.message_id, parked.parking_id, parked.type, parked.order_id) == (
        "m-1",
        "parked-0-1",
        "order.placed",
        "ord-1",
    )
    assert (parked.kind, parked.attempts, parked.delivery_count, parked.delivery_tag) == (
        "invalid",
        1,
        3,
        7,
    )
    assert parked.parked_at == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert parked.body == body

    at = parked.parked_at
    assert Filters(order="ord-1", kind="invalid").admits(parked)
    assert Filters(order="ord").admits(parked) is False
    assert Filters(error="PermanentError").admits(parked) is False
    assert Filters(since=at, until=at).admits(parked)
    assert Filters(since=at + timedelta(seconds=1)).admits(parked) is False
    assert Filters(ids=("parked-0-1",)).admits(parked)
    assert Filters(ids=("m-2",)).admits(parked) is False


def test_a_parked_copy_keeps_what_its_publisher_sent_and_a_replay_sends_that() -> None:
    headers = {
        "x-shop-trace": "t-1",
        "x-orderflow-parked-id": "parked-0-17",
        "x-orderflow-reason": "body is not JSON",
        "x-orderflow-kind": "malformed",
        "x-orderflow-worker": "intake",
        "x-orderflow-origin": "orderflow.commands/order.submit",
        "x-orderflow-exchange": "orderflow.commands",
        "x-orderflow-routing-key": "order.submit",
        "x-delivery-count": 2,
    }
    sent = {
        "message_id": "shop-42",
        "correlation_id": "basket-9",
        "content_type": "application/cloudevents+json",
        "reply_to": "shop.replies",
        "app_id": "shop",
    }
    raw = delivery(b"{broken", 3, application_headers=headers, delivery_mode=2, **sent)

    parked = parse("intake", "orderflow.intake.parking", raw)

    assert (parked.message_id, parked.parking_id) == ("shop-42", "parked-0-17")
    assert parked.sent == sent
    assert parked.sent_headers == {"x-shop-trace": "t-1"}
    assert parked.route == "orderflow.commands/order.submit"
    assert parked.content_type == "application/cloudevents+json"
    envelope = submit_envelope({"channel": "web", "external_id": "W-1"}, message_id="env-1")
    assert as_sent(parked, envelope) == sent  # its own message id, not the envelope's


def test_an_old_style_parked_copy_is_replayed_as_every_envelope_is_sent() -> None:
    """Copies parked before they kept the publisher's properties carry the parking's own."""
    headers = {"x-orderflow-kind": "malformed", "x-orderflow-reason": "body is not JSON"}
    raw = delivery(
        b"{}", 1, application_headers=headers, message_id="parked-1-2", content_type="x/y"
    )
    envelope = submit_envelope({"channel": "web", "external_id": "W-1"}, message_id="env-1")

    parked = parse("intake", "orderflow.intake.parking", raw)

    assert (parked.parking_id, parked.sent, parked.content_type) == (
        "parked-1-2",
        None,
        "application/cloudevents+json",
    )
    assert as_sent(parked, envelope) == {
        "content_type": "application/cloudevents+json",
        "content_encoding": "utf-8",
        "message_id": "env-1",
        "correlation_id": "web:W-1",
    }


def test_a_message_dead_lettered_after_its_delivery_limit_is_retries_exhausted() -> None:
    death = {
        "reason": "delivery_limit",
        "queue": "orderflow.stock",
        "exchange": "orderflow.events",
        "routing-keys": ["order.placed"],
        "count": 1,
        "time": datetime(2026, 3, 2, 9, 0),
    }
    parked = parse(
        "stock",
        "orderflow.stock.parking",
        delivery(b"\xff\xfe", message_id="m-9", application_headers={"x-death": [death]}),
    )
    assert (parked.kind, parked.origin, parked.message_id, parked.type) == (
        "retries_exhausted",
        "orderflow.events/order.placed",
        "m-9",
        "",
    )
    assert "orderflow.stock" in parked.reason
    assert parked.parked_at == datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_a_message_is_found_by_id_or_by_position() -> None:
    messages = [
        parse("stock", "q", delivery(b'{"id": "2"}', 1, message_id="parked-a")),
        parse("stock", "q", delivery(b"not json", 2, message_id="parked-b")),
    ]
    assert find(messages, "parked-b") == [messages[1]]
    assert find(messages, "2") == [messages[0]]  # an id before a position
    assert find(messages, "1") == [messages[0]]
    assert find(messages, "3") == []
    assert find(messages, "0") == []
