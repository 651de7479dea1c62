"""``orderflow rehearse``'s arithmetic and its refusals: whether a worker keeps up, what one
replica of it handles, which worker gives out first, how many replicas a target rate needs, in
which order a rehearsal is undone, and the options it will not run with."""

from __future__ import annotations

import io
import os
import threading

import pytest
from rich.console import Console
from typer.testing import CliRunner

from orderflow.cli.main import app
from orderflow.rehearse.capacity import (
    Load,
    bottleneck,
    ceiling,
    cores_for,
    judge,
    replicas_needed,
    sustained_rate,
)
from orderflow.rehearse.namespace import RehearsalError, Teardown, first_error, new_namespace
from orderflow.rehearse.plan import Plan, Snapshot
from orderflow.rehearse.report import WorkerFigures, problems
from orderflow.rehearse.settings import RehearsalSettings
from orderflow.rehearse.show import live_progress
from shared.settings import Settings

RATE = 10.0  # orders a second
WINDOW = 10.0  # seconds of sending
ORDERS = 100


def every_half_second(*ready: int) -> list[tuple[float, int]]:
    return [(0.5 * (n + 1), r) for n, r in enumerate(ready)]


def keeping_up(cpu_seconds: float = 3.0, replicas: int = 1) -> Load:
    """A worker that handled 3 messages an order, 300 in all, its queue empty throughout."""
    return Load(replicas, 300, 290, cpu_seconds, every_half_second(*[0] * 20))


def falling_behind(replicas: int = 1, rising: int = 40) -> Load:
    """A worker whose queue climbs by ``rising`` ready messages every half second; it handled
    only 200 of the 300 messages while orders were sent."""
    samples = every_half_second(*(rising * n for n in range(20)))
    return Load(replicas, 300, 200, 9.0, samples)


def test_a_worker_whose_queue_stays_empty_keeps_up_and_its_capacity_is_what_its_cpu_allows() -> (
    None
):
    verdict = judge(keeping_up(cpu_seconds=3.0), ORDERS, RATE, WINDOW)
    assert verdict.per_order == 3
    assert verdict.inflow == 30
    assert not verdict.saturated
    assert verdict.capacity_per_replica == pytest.approx(100)  # 300 messages in 3 CPU seconds
    assert not verdict.measured
    assert verdict.utilisation == pytest.approx(0.3)


def test_a_burst_at_the_end_or_a_standing_queue_is_not_saturation() -> None:
    burst = Load(1, 300, 290, 3.0, every_half_second(*[0] * 19, 25))  # under 1 s of 30/s
    standing = Load(1, 300, 290, 3.0, every_half_second(*[500] * 20))
    assert not judge(burst, ORDERS, RATE, WINDOW).saturated
    assert not judge(standing, ORDERS, RATE, WINDOW).saturated


def test_a_queue_of_batches_is_judged_against_the_deliveries_that_come_in() -> None:
    """Reporting handles 7 events an order from 0.6 deliveries: its queue's depth counts
    batches, so 12 batches ready and climbing are falling behind 6 deliveries a second, where
    against 70 events a second they would look like a worker keeping up."""
    climbing = every_half_second(*range(0, 40, 2))[:13]  # 0 .. 24 in 6.5 s: 4 a second
    batched = Load(1, 700, 600, 3.0, climbing, delivered=60)
    unbatched = Load(1, 700, 600, 3.0, climbing)

    verdict = judge(batched, ORDERS, RATE, WINDOW)
    assert verdict.saturated and verdict.queue_inflow == pytest.approx(6)
    assert verdict.inflow == pytest.approx(70)
    assert not judge(unbatched, ORDERS, RATE, WINDOW).saturated


def test_a_worker_whose_queue_climbs_is_saturated_and_its_capacity_is_what_it_handled() -> None:
    verdict = judge(falling_behind(replicas=2), ORDERS, RATE, WINDOW)
    assert verdict.saturated
    assert verdict.growth == pytest.approx(80)
    assert verdict.throughput == 20  # 200 messages in the 10 s window
    assert verdict.capacity_per_replica == 10  # each of the two replicas
    assert verdict.measured
    assert verdict.utilisation == pytest.approx(1.5)  # 30 a second offered, 20 handled


def test_the_bottleneck_is_the_saturated_worker_whose_queue_grows_fastest_for_its_inflow() -> None:
    verdicts = {
        "stock": judge(keeping_up(cpu_seconds=9.0), ORDERS, RATE, WINDOW),
        "payment": judge(falling_behind(rising=10), ORDERS, RATE, WINDOW),
        "shipping": judge(falling_behind(rising=40), ORDERS, RATE, WINDOW),
    }
    assert bottleneck(verdicts) == "shipping"


def test_without_a_saturated_worker_the_bottleneck_is_the_busiest_for_its_replicas() -> None:
    verdicts = {
        "stock": judge(keeping_up(cpu_seconds=6.0, replicas=2), ORDERS, RATE, WINDOW),
        "payment": judge(keeping_up(cpu_seconds=4.0), ORDERS, RATE, WINDOW),
    }
    assert verdicts["stock"].utilisation == pytest.approx(0.3)
    assert verdicts["payment"].utilisation == pytest.approx(0.4)
    assert bottleneck(verdicts) == "payment"
    assert ceiling(RATE, verdicts) == pytest.approx(25)  # where payment reaches full use


def test_replicas_needed_leave_each_replica_its_headroom_and_round_up() -> None:
    verdict = judge(keeping_up(cpu_seconds=3.0), ORDERS, RATE, WINDOW)  # 100 a second a replica
    assert replicas_needed(verdict, target=100, headroom=0.2) == 4  # 300 / 80 = 3.75
    assert replicas_needed(verdict, target=80, headroom=0.25) == 4  # 240 / 75 = 3.2
    assert replicas_needed(verdict, target=50, headroom=0.25) == 2  # 150 / 75, exactly
    assert replicas_needed(verdict, target=1, headroom=0.2) == 1


def test_replicas_needed_for_a_saturated_worker_come_from_what_it_handled() -> None:
    verdict = judge(falling_behind(replicas=2), ORDERS, RATE, WINDOW)  # 10 a second a replica
    assert replicas_needed(verdict, target=RATE, headroom=0.0) == 3  # 30 a second offered


def test_nothing_measured_gives_no_replica_count() -> None:
    idle = judge(Load(1, 0, 0, 0.0, every_half_second(0, 0)), ORDERS, RATE, WINDOW)
    assert idle.capacity_per_replica is None
    assert replicas_needed(idle, target=RATE, headroom=0.2) is None


def test_cores_for_a_rate_come_from_the_cpu_every_worker_spends_on_an_order() -> None:
    assert cores_for(100, cpu_ms_per_order=150) == pytest.approx(15)
    assert cores_for(100, cpu_ms_per_order=150, headroom=0.25) == pytest.approx(20)
    assert 2 / cores_for(1, cpu_ms_per_order=125) == pytest.approx(16)  # a 2-core host's ceiling


def test_the_sustained_rate_does_not_count_the_delay_before_the_first_completion() -> None:
    completions = [100.0 + 2.5 + n / 4 for n in range(40)]  # 4 a second, after 2.5 s in the saga
    assert sustained_rate(completions) == pytest.approx(4)
    assert sustained_rate([1.0]) == 0


def test_teardown_undoes_the_last_step_first_and_every_step_even_after_one_fails() -> None:
    done: list[str] = []
    teardown = Teardown()
    teardown.add("delete vhost", lambda: done.append("vhost"))
    teardown.add("drop databases", lambda: done.append("databases"))
    teardown.add("stop workers", lambda: 1 / 0)
    teardown.add("close links", lambda: done.append("links"))

    failures = teardown.run()

    assert done == ["links", "databases", "vhost"]
    assert failures == ["stop workers: division by zero"]
    assert teardown.run() == []  # once only


def deployment(**overrides: str) -> Settings:
    values = {
        "broker_url": "amqp://ops:s3cret@rabbit.prod:5672/orderflow",
        "database_url": "postgresql+psycopg://app:pw@db.prod:5432/orderflow_{worker}",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def test_a_rehearsal_has_a_vhost_and_databases_of_its_own_on_the_deployment_s_servers() -> None:
    namespace = new_namespace(deployment(), "kubectl exec rabbitmq-0 -- rabbitmqctl", "ab12")
    assert namespace.vhost == "orderflow-rehearsal-ab12"
    assert namespace.user == "ops"
    assert (
        namespace.settings.broker_url
        == "amqp://ops:s3cret@rabbit.prod:5672/orderflow-rehearsal-ab12"
    )
    assert namespace.settings.database_url_for("stock") == (
        "postgresql+psycopg://app:pw@db.prod:5432/orderflow_rehearsal_ab12_stock"
    )
    assert "orderflow_rehearsal_ab12_intake" in namespace.databases
    assert namespace.cleanup_commands()[:2] == [
        "kubectl exec rabbitmq-0 -- rabbitmqctl delete_vhost orderflow-rehearsal-ab12",
        'DROP DATABASE IF EXISTS "orderflow_rehearsal_ab12_intake" WITH (FORCE);',
    ]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"broker_url": "memory://"}, "broker_url (ORDERFLOW_BROKER_URL)"),
        ({"database_url": "sqlite:///data/{worker}.db"}, "database_url (ORDERFLOW_DATABASE_URL)"),
    ],
)
def test_a_rehearsal_needs_the_real_broker_and_postgresql(
    overrides: dict[str, str], named: str
) -> None:
    with pytest.raises(RehearsalError, match=named.replace("(", r"\(").replace(")", r"\)")):
        new_namespace(deployment(**overrides), "rabbitmqctl")


def test_a_rabbitmqctl_failure_is_told_by_its_error_line_not_its_usage_text() -> None:
    output = (
        "rabbitmqctl [--node <node>] [--quiet] delete_vhost <vhost>\n"
        "Error: this command requires the 'rabbit' app to be running on the target node.\n"
        "Arguments given:\n\t-q delete_vhost x\n"
    )
    assert first_error(output).startswith("Error: this command requires the 'rabbit' app")
    assert first_error("\nnodedown\n") == "nodedown"
    assert first_error("") == "no output"


def figures(saturated: bool) -> WorkerFigures:
    return WorkerFigures(
        1, 3, 30, 30, 300, 20, 80 if saturated else 0, 0, saturated, 1, 2, 3, 4, 10, saturated, 1, 3
    )


def test_the_problems_say_why_a_rate_was_not_sustained() -> None:
    plan = Plan(RATE, WINDOW, options=RehearsalSettings(drain_seconds=30, rate_tolerance=0.05))
    workers = {"stock": figures(False), "payment": figures(True)}
    found = problems(plan, submitted=100, completed=97, rate=9.0, workers=workers)
    assert found == [
        "3 of 100 orders not completed within 30 s of the last one sent",
        "orders completed at 9.00/s, below the offered 10/s (at least 9.50/s counts as sustained)",
        "payment does not keep up: its queue grew 80.0 messages/s against an inflow of 30.0/s",
    ]
    ok = {"stock": figures(False)}
    assert problems(plan, submitted=100, completed=100, rate=9.6, workers=ok) == []


def rehearse(*args: str, broker: str = "amqp://guest:guest@127.0.0.1:5672//") -> tuple[int, str]:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERFLOW_")}
    env |= {
        "ORDERFLOW_BROKER_URL": broker,
        "ORDERFLOW_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1/x_{worker}",
    }
    result = CliRunner(env=env).invoke(app, ["rehearse", *args])
    return result.exit_code, " ".join((result.stdout + result.stderr).split())


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--rate", "0", "--duration", "10"], "--rate: must be greater than 0"),
        (["--rate", "1", "--duration", "5"], "--rate * --duration: 10 orders at least"),
        (["--replicas", "stok=2"], "--replicas stok=2: no worker named 'stok'"),
        (["--replicas", "stock=0"], "--replicas stock=0: expected stock=N"),
        (
            ["--headroom", "1.5"],
            "--headroom (ORDERFLOW_REHEARSAL_HEADROOM): Input should be less than 1",
        ),
        (
            ["--drain-seconds", "-1"],
            "--drain-seconds (ORDERFLOW_REHEARSAL_DRAIN_SECONDS): Input should be greater",
        ),
    ],
)
def test_the_command_refuses_what_it_cannot_run_with_naming_the_option(
    args: list[str], said: str
) -> None:
    given = args if "--rate" in args else ["--rate", "5", "--duration", "10", *args]
    code, text = rehearse(*given)
    assert code == 2, text
    assert text.startswith(f"error: {said}"), text


def test_the_command_refuses_the_in_memory_broker_before_making_anything() -> None:
    code, text = rehearse("--rate", "5", "--duration", "10", broker="memory://")
    assert code == 2, text
    assert text.startswith("error: broker_url (ORDERFLOW_BROKER_URL): memory:// lives"), text
    assert "removed" not in text


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_is_redrawn_on_a_terminal_by_a_thread_of_its_own_and_elsewhere_printed_at_the_end(
    terminal: bool,
) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=100)
    threads = threading.active_count()

    with live_progress(console, Plan(RATE, WINDOW)) as show:
        show(Snapshot("sending", 4.0, 12, 9, {"intake": 3}))
        refreshing = threading.active_count() - threads
        printed_while_running = out.getvalue()

    assert refreshing == (1 if terminal else 0)
    if not terminal:
        assert printed_while_running == ""
    assert "sent 12 of" in out.getvalue() and "completed 9" in out.getvalue()
