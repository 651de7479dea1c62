"""The ``orderflow`` command refuses a user's mistakes before anything is sent: a clear message
that names the field (or says why the broker rules it out), and exit code 2.

No broker and no database: the CLI runs in this process on ``memory://`` and a SQLite directory
of the test's own, which the refused commands must leave untouched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.cluster.databases import WorkerDatabases
from services.aftersales.model import Case, Order
from services.intake.model import Order as IntakeOrder
from shared.contracts import ReviewReason, ReviewRule
from shared.settings import Settings
from tests.factories import order_submit


@dataclass(frozen=True)
class Ran:
    code: int
    text: str
    """stdout and stderr, with Rich's line wrapping undone (runs of whitespace become one
    space)."""


Run = Callable[..., Ran]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where the workers' SQLite databases would be; refused commands must not create them."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def run(data_dir: Path) -> Run:
    """Run ``orderflow <args>`` with ORDERFLOW_* pointing at memory:// and ``data_dir``."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERFLOW_")}
    env |= {
        "ORDERFLOW_BROKER_URL": "memory://",
        "ORDERFLOW_DATABASE_URL": f"sqlite:///{data_dir}/{{worker}}.db",
        "ORDERFLOW_NAMESPACE": "cli-test",
    }

    def invoke(*args: str, **overrides: str) -> Ran:
        result = CliRunner(env={**env, **overrides}).invoke(app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result.exit_code, " ".join((result.stdout + result.stderr).split()))

    return invoke


NEW_ADDRESS = ["--line1", "Karl-Marx-Allee 1", "--city", "Berlin", "--postal-code", "10178"]


def refused(ran: Ran, *words: str) -> None:
    assert ran.code == 2, ran.text
    assert ran.text.startswith("error: "), ran.text
    for word in words:
        assert word in ran.text, f"{word!r} not in {ran.text!r}"


# -- lines, quantities and reasons --------------------------------------------------------------


@pytest.mark.parametrize("command", ["return", "exchange", "resend"])
@pytest.mark.parametrize("line", ["MUG-BLUE=abc", "MUG-BLUE=0", "MUG-BLUE=2.5", "MUG-BLUE=-1"])
def test_a_bad_line_names_itself_and_the_form_it_should_take(
    run: Run, command: str, line: str
) -> None:
    ran = run("order", command, "ord_x", line, "--reason", "r")
    refused(ran, f"line {line!r}", "SKU=QUANTITY", "positive quantity")


def test_a_sku_the_contract_refuses_is_named_by_its_field(run: Run) -> None:
    refused(run("order", "return", "ord_x", "mug blue=2", "--reason", "r"), "lines[0].sku")
    refused(run("order", "return", "ord_x", "=2", "--reason", "r"), "lines[0].sku")


def test_a_quantity_above_the_contract_maximum_is_named_by_its_field(run: Run) -> None:
    ran = run("order", "return", "ord_x", "MUG-BLUE=2", "TEA-GREEN=20000", "--reason", "r")
    refused(ran, "lines[1].quantity", "10000")


def test_what_the_user_typed_is_printed_as_typed_not_read_as_markup(run: Run) -> None:
    refused(run("order", "return", "ord_x", "[red]X=abc", "--reason", "r"), "'[red]X=abc'")


@pytest.mark.parametrize("reason", ["", "   "])
@pytest.mark.parametrize(
    "command",
    [
        ["order", "return", "ord_x", "MUG-BLUE=2"],
        ["order", "exchange", "ord_x", "MUG-BLUE"],
        ["order", "resend", "ord_x", "TEA-GREEN=1"],
        ["order", "cancel", "ord_x"],
    ],
    ids=["return", "exchange", "resend", "cancel"],
)
def test_an_empty_reason_is_refused_by_the_contracts_minimum_length(
    run: Run, command: list[str], reason: str
) -> None:
    refused(run(*command, "--reason", reason), "reason:", "at least 1 character")


def test_a_receipt_must_say_what_came_back(run: Run) -> None:
    ran = run("return", "receive", "ord_x.1")
    refused(ran, "give what came back", "--resellable SKU=QUANTITY", "--damaged SKU=QUANTITY")


def test_a_bad_inspected_line_names_its_option(run: Run) -> None:
    ran = run("return", "receive", "ord_x.1", "--resellable", "MUG-BLUE=1", "--damaged", "MUG=x")
    refused(ran, "damaged 'MUG=x'", "SKU=QUANTITY")


# -- money, stock and addresses -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        ("12.345", "a EUR amount has at most 2 decimals"),
        ("0", "must be positive"),
        ("0.00", "must be positive"),
        ("abc", "is not a number"),
        ("12,34", "is not a number"),
        ("inf", "is not a number"),
        ("nan", "is not a number"),
    ],
)
def test_a_payment_amount_must_be_money(run: Run, amount: str, says: str) -> None:
    refused(run("payment", "notify", "ord_x", amount), f"amount: {amount!r}", says)


def test_a_payment_amount_has_its_currencys_decimals(run: Run) -> None:
    ran = run("payment", "notify", "ord_x", "1250.5", "--currency", "JPY")
    refused(ran, "amount: '1250.5'", "a JPY amount has no decimals")


def test_a_payment_currency_must_be_an_iso_code(run: Run) -> None:
    ran = run("payment", "notify", "ord_x", "12.34", "--currency", "eur")
    refused(ran, "currency: 'eur' is not an ISO 4217 currency code")


def test_stock_set_names_a_bad_sku_and_a_bad_weight(run: Run, data_dir: Path) -> None:
    refused(run("stock", "set", "bad-sku", "1"), "sku: 'bad-sku'", "upper-case")
    refused(run("stock", "set", "MUG-BLUE", "1", "--weight-grams", "0"), "weight-grams:")
    assert list(data_dir.iterdir()) == []


def test_stock_receive_wants_a_positive_quantity(run: Run) -> None:
    refused(run("stock", "receive", "MUG-BLUE", "0"), "quantity:", "greater than 0")


def test_an_address_change_names_the_bad_address_field(run: Run) -> None:
    ran = run("order", "change-address", "ord_x", *NEW_ADDRESS, "--country", "Germany")
    refused(ran, "address.country")


# -- the broker --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["order", "cancel", "ord_x", "--reason", "ordered twice"],
        ["order", "return", "ord_x", "MUG-BLUE=2", "--reason", "too small"],
        ["order", "exchange", "ord_x", "MUG-BLUE", "--reason", "it leaks"],
        ["order", "resend", "ord_x", "TEA-GREEN=1", "--reason", "missing"],
        ["order", "change-address", "ord_x", *NEW_ADDRESS, "--country", "DE"],
        ["return", "receive", "ord_x.1", "--resellable", "MUG-BLUE=1"],
        ["payment", "notify", "ord_x", "29.95"],
        ["stock", "receive", "MUG-BLUE", "20"],
        ["review", "approve", "ord_x", "--reviewer", "rita"],
        ["review", "reject", "ord_x", "--reviewer", "rita", "--reason", "fraud"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_command_on_memory_is_refused_before_any_database_is_read(
    run: Run, data_dir: Path, command: list[str]
) -> None:
    refused(run(*command), "ORDERFLOW_BROKER_URL is memory://", "no worker would see")
    assert list(data_dir.iterdir()) == [], "a refused command opened the workers' databases"


def test_a_submission_on_memory_points_at_rabbitmq_or_the_demo(run: Run, tmp_path: Path) -> None:
    orders = tmp_path / "order.json"
    orders.write_text(json.dumps({"channel": "web", "external_id": "W-1"}))
    refused(run("submit", str(orders)), "memory://", "amqp://", "orderflow demo")


# -- submissions, workers, settings -------------------------------------------------------------


def test_a_submission_that_is_not_json_says_where(run: Run, tmp_path: Path) -> None:
    orders = tmp_path / "orders.json"
    orders.write_text('{"channel": "web",\n  "lines": [1, 2,]}\n')
    refused(run("submit", str(orders)), str(orders), "not JSON", "line 2")


def test_a_submission_that_cannot_be_read_says_so(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "nosuch.json"
    refused(run("submit", str(missing)), str(missing), "cannot read it", "No such file")


def test_every_submitted_order_must_be_a_json_object(run: Run, tmp_path: Path) -> None:
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps([{"channel": "web"}, 7]))
    refused(run("submit", str(orders)), "[1] must be a JSON object, got int")
    orders.write_text(json.dumps("an order"))
    refused(run("submit", str(orders)), "the document must be a JSON object, got str")


def test_an_unknown_worker_is_named_with_the_ones_there_are(run: Run) -> None:
    refused(run("worker", "nosuch"), "worker:", "'nosuch'", "intake", "aftersales", "notifier")


def test_a_bad_setting_names_its_field_and_where_it_comes_from(run: Run) -> None:
    ran = run("order", "cancel", "ord_x", "--reason", "r", ORDERFLOW_PREFETCH="0")
    refused(ran, "settings: prefetch (ORDERFLOW_PREFETCH): Input should be greater than")


def test_a_stray_brace_in_the_database_url_stops_a_worker_before_it_starts(
    run: Run, data_dir: Path
) -> None:
    """``orderflow_{worker}}`` once made databases named ``orderflow_stock}``."""
    ran = run("worker", "stock", ORDERFLOW_DATABASE_URL=f"sqlite:///{data_dir}/of_{{worker}}}}.db")
    refused(ran, "settings: database_url (ORDERFLOW_DATABASE_URL):", "Single '}'", "exactly once")
    assert list(data_dir.iterdir()) == []


def test_a_workers_own_bad_setting_names_its_variable(run: Run) -> None:
    for args in (["worker", "notifier"], ["run"]):
        ran = run(*args, ORDERFLOW_NOTIFIER_SMTP_HOST="smtp://mailpit:1025")
        refused(ran, "notifier settings: smtp_host (ORDERFLOW_NOTIFIER_SMTP_HOST):", "not a URL")


def test_showing_an_unknown_order_says_so_and_exits_1(run: Run) -> None:
    ran = run("order", "show", "ord_nosuch")
    assert ran.code == 1, ran.text
    assert "no order has the id 'ord_nosuch'" in ran.text


# -- returned parcels, checked against after-sales' own table before anything is sent ----------

UNREACHABLE = "amqp://guest:guest@127.0.0.1:1//"
"""A broker URL that is not memory://; nothing may connect to it before the check refuses."""


@pytest.fixture
def rmas(data_dir: Path) -> None:
    """After-sales knows order ord_r with four cases, each for 2 MUG-BLUE: .1 awaits the goods,
    .2 is a closed return, .3 an exchange whose goods came back and whose replacement is on its
    way, .4 a resend (no RMA)."""
    settings = Settings(database_url=f"sqlite:///{data_dir}/{{worker}}.db")
    dbs = WorkerDatabases(settings, ["aftersales"])
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    cases = [
        (1, "return", "awaiting_goods", None),
        (2, "return", "closed", "refunded"),
        (3, "exchange", "replacing", None),
        (4, "resend", "replacing", None),
    ]
    try:
        with dbs.session("aftersales") as session, session.begin():
            session.add(Order.opened("ord_r"))
            for number, kind, status, outcome in cases:
                session.add(
                    Case(
                        case_id=f"ord_r.{number}",
                        order_id="ord_r",
                        number=number,
                        request_id=f"rq-{number}",
                        kind=kind,
                        status=status,
                        reason="r",
                        lines={"MUG-BLUE": 2},
                        outcome=outcome,
                        opened_at=now,
                    )
                )
    finally:
        dbs.dispose()


@pytest.mark.usefixtures("rmas")
@pytest.mark.parametrize(
    ("rma", "came_back", "says"),
    [
        ("ord_r.9", "MUG-BLUE=1", "rma: no RMA has the number 'ord_r.9'"),
        ("ord_r.4", "MUG-BLUE=1", "rma: no RMA has the number 'ord_r.4'"),
        ("ord_r.2", "MUG-BLUE=1", "RMA ord_r.2 is closed (refunded): it awaits no goods"),
        ("ord_r.3", "MUG-BLUE=1", "RMA ord_r.3 awaits no goods: they came back already"),
        ("ord_r.1", "MUG-BLUE=3", "MUG-BLUE: 3 came back but RMA ord_r.1 authorized 2"),
        ("ord_r.1", "TEA-GREEN=1", "TEA-GREEN: 1 came back but RMA ord_r.1 authorized 0"),
    ],
)
def test_a_receipt_the_rma_does_not_await_is_refused_before_it_is_sent(
    run: Run, rma: str, came_back: str, says: str
) -> None:
    ran = run("return", "receive", rma, "--resellable", came_back, ORDERFLOW_BROKER_URL=UNREACHABLE)
    refused(ran, says)


# -- order review, checked against intake's own table before anything is sent ------------------


@pytest.fixture
def reviewed(data_dir: Path) -> None:
    """Intake holds ord_held for review (billed in FR, shipped to DE) and placed ord_placed."""
    settings = Settings(database_url=f"sqlite:///{data_dir}/{{worker}}.db")
    dbs = WorkerDatabases(settings, ["intake"])
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    reason = ReviewReason(rule=ReviewRule.COUNTRY_MISMATCH, message="billed in FR, shipped to DE")
    try:
        with dbs.session("intake") as session, session.begin():
            held = IntakeOrder.received("web", "WEB-1", now)
            held.id = "ord_held"
            held.hold(order_submit(), None, [reason], now + timedelta(hours=6), now)
            placed = IntakeOrder.received("web", "WEB-2", now)
            placed.id = "ord_placed"
            placed.place(order_submit(external_id="WEB-2"), None, now)
            session.add_all([held, placed])
    finally:
        dbs.dispose()


@pytest.mark.usefixtures("reviewed")
def test_review_list_shows_each_held_order_and_why(run: Run) -> None:
    ran = run("review", "list")

    assert ran.code == 0, ran.text
    assert "ord_held" in ran.text and "ord_placed" not in ran.text
    assert "country_mismatch" in ran.text and "1 held" in ran.text


@pytest.mark.usefixtures("reviewed")
def test_review_list_as_json(run: Run) -> None:
    ran = run("review", "list", "--format", "json")

    [held] = json.loads(ran.text)
    assert held["order_id"] == "ord_held"
    assert held["total"] == {"amount": 2995, "currency": "EUR"}
    assert held["reasons"] == ["country_mismatch: billed in FR, shipped to DE"]
    assert held["review_due"] == "2026-03-02T15:00:00+00:00"


def test_review_list_with_nothing_held_says_so(run: Run) -> None:
    assert run("review", "list").text == "no orders held for review"


@pytest.mark.usefixtures("reviewed")
@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["approve", "ord_placed"], "order ord_placed is placed, not held for review: nothing to"),
        (["reject", "ord_nosuch", "--reason", "x"], "order: no order has the id 'ord_nosuch'"),
        (["approve", "ord_held", "--reviewer", " "], "reviewer"),
    ],
)
def test_a_review_intake_rules_out_is_refused_before_it_is_sent(
    run: Run, command: list[str], says: str
) -> None:
    args = ["review", *command]
    if "--reviewer" not in args:
        args += ["--reviewer", "rita"]
    refused(run(*args, ORDERFLOW_BROKER_URL=UNREACHABLE), says)


def test_a_reject_must_say_why(run: Run) -> None:
    ran = run("review", "reject", "ord_x", "--reviewer", "rita")

    assert ran.code == 2 and "--reason" in ran.text
