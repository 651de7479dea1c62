"""Outages: RabbitMQ, then PostgreSQL, restarted in the middle of a run. The workers keep their
state safe meanwhile (no ack while the database is down; unpublished announcements stay in the
outbox while the broker is), reconnect, and the run ends as a soak does: every order terminal,
the four invariants intact, nothing parked.

Both restart the real servers on this machine, so they need the rights to (CI has them); they
leave the servers running.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.faults.harness import Run, running

ORDERS = 300


def restart_rabbitmq() -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is not on PATH: cannot restart RabbitMQ")
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    time.sleep(2)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "await_startup"], check=True, capture_output=True, timeout=120)


def restart_postgres() -> None:
    clusters = sorted(Path("/etc/postgresql").glob("*/main"))
    if not clusters or shutil.which("pg_ctlcluster") is None:
        pytest.fail("no local PostgreSQL cluster to restart (pg_ctlcluster, /etc/postgresql)")
    version = clusters[-1].parent.name
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    subprocess.run([*command, "stop", "-m", "fast"], check=True, capture_output=True, timeout=120)
    time.sleep(3)
    subprocess.run([*command, "start"], check=True, capture_output=True, timeout=120)


def outage_mid_run(run: Run, restart: object) -> None:
    run.submit(ORDERS // 2)
    time.sleep(1.5)
    assert callable(restart)
    restart()
    run.submit(ORDERS - run.submitted)
    run.wait_all_terminal(180)
    run.verdict()


def test_a_rabbitmq_restart_mid_run_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    with running(settings, tmp_path) as run:
        outage_mid_run(run, restart_rabbitmq)


def test_a_postgresql_restart_mid_run_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    with running(settings, tmp_path) as run:
        outage_mid_run(run, restart_postgres)
