"""``orderflow rehearse`` on the real RabbitMQ and PostgreSQL: a short rehearsal whose report is
checked against what the workers recorded in their own tables, then nothing of it left behind
(vhost, databases, processes, files); and a rehearsal stopped with Ctrl-C that cleans up all the
same."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, func, make_url, select, text

from orderflow.cluster.databases import WorkerDatabases
from orderflow.cluster.registry import NAMES
from orderflow.rehearse.namespace import DATABASE_PREFIX, VHOST_PREFIX, Namespace, new_namespace
from orderflow.rehearse.plan import Plan, Snapshot
from orderflow.rehearse.run import rehearse
from orderflow.rehearse.settings import RehearsalSettings
from services.intake.store import IntakeUnitOfWork
from services.shipping.model import Shipment
from shared.settings import Settings
from tests.required import required
from tests.support import real_settings, wait_until

pytestmark = pytest.mark.real


@pytest.fixture
def deployment(rabbitmq_url: str, postgres_url: str) -> Settings:
    """The settings a deployment's operator has: its broker and its database server."""
    if shutil.which("rabbitmqctl") is None or urlsplit(rabbitmq_url).hostname not in (
        "127.0.0.1",
        "localhost",
    ):
        required("rabbitmqctl is needed on the broker's own host, to make the rehearsal's vhost")
    return real_settings("orderflow", rabbitmq_url, postgres_url)


def half_a_second() -> None:
    time.sleep(0.5)


def vhosts() -> set[str]:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts", "name"], capture_output=True, text=True, check=True
    )
    return {line.strip() for line in listed.stdout.splitlines()} - {"name"}


def databases(postgres_url: str, prefix: str) -> set[str]:
    engine = create_engine(make_url(postgres_url).set(database="postgres"))
    try:
        with engine.connect() as connection:
            query = text("SELECT datname FROM pg_database WHERE datname LIKE :p")
            return set(connection.scalars(query, {"p": f"{prefix}%"}))
    finally:
        engine.dispose()


def processes_on(vhost: str) -> list[int]:
    """Our processes whose broker URL names ``vhost`` (the rehearsal's workers, while alive)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if vhost.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


def clear_left_behind(vhost: str, run_id: str, postgres_url: str) -> None:
    """What a rehearsal killed before its cleanup leaves: its workers, vhost and databases, so
    that they do not run on through the tests after it."""
    for pid in processes_on(vhost):
        os.kill(pid, signal.SIGKILL)
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, check=False)
    engine = create_engine(make_url(postgres_url).set(database="postgres"))
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for name in databases(postgres_url, f"{DATABASE_PREFIX}{run_id}_"):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def what_the_workers_recorded(namespace: Namespace) -> dict[str, object]:
    """Read from the workers' own tables (and the broker), while the rehearsal still stands:
    orders per status, shipments, and each worker's inbox rows by when it took them up."""
    dbs = WorkerDatabases(namespace.settings)
    try:
        with dbs.session("intake") as session:
            statuses = IntakeUnitOfWork(session).orders.counts_by_status()
        with dbs.session("shipping") as session:
            shipments = session.scalar(select(func.count()).select_from(Shipment))
        inbox = {}
        for name in NAMES:
            with dbs.session(name) as session:
                table = dbs.tables[name].inbox.table
                inbox[name] = list(session.scalars(select(table.c.handled_at)))
    finally:
        dbs.dispose()
    return {
        "statuses": statuses,
        "shipments": shipments,
        "inbox": inbox,
        "vhost there": namespace.vhost in vhosts(),
        "workers": processes_on(namespace.vhost),
    }


def test_a_rehearsal_reports_what_the_workers_did_and_leaves_nothing_behind(
    deployment: Settings, postgres_url: str
) -> None:
    plan = Plan(
        rate=4,
        duration=6,
        replicas={"stock": 2},
        target=40,
        options=RehearsalSettings(warm_up_seconds=1, drain_seconds=30, rate_tolerance=0.2),
    )
    shown: list[Snapshot] = []
    recorded: dict[str, object] = {}

    report = rehearse(
        new_namespace(deployment, "rabbitmqctl"),
        plan,
        shown.append,
        lambda ns: recorded.update(what_the_workers_recorded(ns)),
    )

    assert recorded["vhost there"] and len(recorded["workers"]) == len(NAMES) + 1  # type: ignore[arg-type]
    assert recorded["statuses"] == {"completed": 4 + 24}  # warm-up and measured
    assert recorded["shipments"] == 4 + 24
    assert report.submitted == report.completed == 24
    assert report.sustained, report.problems
    assert report.sustained_rate == pytest.approx(4, rel=0.25)
    taken: dict[str, list[datetime]] = recorded["inbox"]  # type: ignore[assignment]
    measured = {n: sum(at.timestamp() >= report.started_at for at in taken[n]) for n in NAMES}
    assert {n for n in NAMES if not taken[n]} == {"reporting"}  # it keeps no inbox
    for name, worker in report.workers.items():
        # the workers' own counts (/metrics) against their inbox rows
        assert worker.handled == measured[name] or name == "reporting", name
        assert worker.handled > 0, name
        assert worker.messages_per_order * 24 == pytest.approx(worker.handled), name
        assert not worker.saturated, name
        if name != "reporting":
            assert worker.critical_p99_ms is not None, name
            assert 0 < worker.critical_p99_ms < 10_000, name
        assert worker.cpu_ms_per_order > 0, name
        assert worker.replicas_needed is not None and worker.replicas_needed >= 1, name
    assert report.workers["stock"].replicas == 2
    assert report.bottleneck in NAMES
    assert report.latency_ms["p99_ms"] >= report.latency_ms["p50_ms"] > 0

    assert (shown[-1].phase, shown[-1].completed) == ("done", 24)
    assert "sending" in {s.phase for s in shown}
    assert max(s.submitted for s in shown) == 24
    assert report.vhost not in vhosts()
    assert databases(postgres_url, f"{DATABASE_PREFIX}{report.id}_") == set()
    assert processes_on(report.vhost) == []
    assert not Path(report.workdir).exists()


def cli_env(deployment: Settings) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")},
        "ORDERFLOW_BROKER_URL": deployment.broker_url,
        "ORDERFLOW_DATABASE_URL": deployment.database_url,
    }


def test_a_rate_not_sustained_fails_the_command_with_the_reason_and_the_report(
    deployment: Settings, postgres_url: str
) -> None:
    """No time to complete after the last order is sent: the last orders cannot have completed
    (an order takes several hops), so the rate was not sustained, whatever the host's speed."""
    command = [sys.executable, "-m", "orderflow", "rehearse", "--rate", "5", "--duration", "4"]
    done = subprocess.run(
        [*command, "--warm-up-seconds", "0", "--drain-seconds", "0", "--format", "json"],
        env=cli_env(deployment),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["sustained"] is False
    assert report["submitted"] == 20 and report["completed"] < 20
    assert report["problems"][0].endswith("orders not completed within 0 s of the last one sent")
    assert "error: 5 orders/s not sustained: " in " ".join(done.stderr.split())
    assert report["vhost"] not in vhosts()
    assert databases(postgres_url, f"{DATABASE_PREFIX}{report['id']}_") == set()


CLEANUP_SECONDS = 120
"""Workers stop (20 s at most), databases and vhost go: seconds on a quiet box, far more on a
busy CI machine."""


def test_a_rehearsal_stopped_with_ctrl_c_cleans_up_and_says_so(
    deployment: Settings, postgres_url: str
) -> None:
    before = vhosts()
    command = [sys.executable, "-m", "orderflow", "rehearse", "--rate", "3", "--duration", "60"]
    rehearsal = subprocess.Popen(
        [*command, "--format", "json"],
        env=cli_env(deployment),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ours: list[str] = []

        def made() -> bool:
            ours[:] = [v for v in vhosts() - before if v.startswith(VHOST_PREFIX)]
            return bool(ours)

        wait_until(made, timeout=30, step=half_a_second, what="a vhost")
        run_id = ours[0].removeprefix(VHOST_PREFIX)
        intake = make_url(postgres_url).set(database=f"{DATABASE_PREFIX}{run_id}_intake")

        def sending() -> bool:
            if f"{DATABASE_PREFIX}{run_id}_intake" not in databases(postgres_url, DATABASE_PREFIX):
                return False
            engine = create_engine(intake)
            try:
                with engine.connect() as connection:
                    return bool(connection.scalar(text("SELECT count(*) FROM orders")))
            except Exception:
                return False
            finally:
                engine.dispose()

        wait_until(sending, timeout=60, step=half_a_second, what="orders")
        rehearsal.send_signal(signal.SIGINT)
        try:
            _, stderr = rehearsal.communicate(timeout=CLEANUP_SECONDS)
        except subprocess.TimeoutExpired:
            rehearsal.kill()
            _, stderr = rehearsal.communicate()
            clear_left_behind(ours[0], run_id, postgres_url)
            raise AssertionError(
                f"not done {CLEANUP_SECONDS} s after Ctrl-C; it said: {stderr}"
            ) from None
    finally:
        if rehearsal.poll() is None:
            rehearsal.kill()

    assert rehearsal.returncode == 130, stderr
    assert "interrupted; the vhost and databases are removed" in " ".join(stderr.split())
    assert ours[0] not in vhosts()
    assert databases(postgres_url, f"{DATABASE_PREFIX}{run_id}_") == set()
    assert processes_on(ours[0]) == []
